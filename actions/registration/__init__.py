"""Registration: the profile form (ask, validate, save), stopping it, showing and changing it.

The form is Rasa's `registration_form`. Its slots are filled from the text of the answer (or
a button's `choice`), validated with a clear re-ask; after two failed answers to one question
it explains what it needs and offers to skip it or stop. Nothing is written to the database
until the last answer: then the whole profile is saved (a new one or an update).

- `form`: the slots and their validation (`ValidateRegistrationForm`);
- `questions`: how each question is asked (`action_ask_reg_*`);
- `profile`: registering, saving, stopping, showing and changing the profile.
"""
