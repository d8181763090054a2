"""SQLAlchemy 2 models of the application database, one module per topic (catalogue, people,
coaching, studio, channel). Import them from here: every model is registered with `Base` once
this package is imported."""

from bot.db.models.base import NAMING_CONVENTION, Base
from bot.db.models.catalogue import DetailsViewed, Opportunity, OpportunityTopic, Topic, TopicLabel
from bot.db.models.channel import ButtonPayload, InboundUpdate, OutboxMessage
from bot.db.models.coaching import (
    HANDOFF_OPEN,
    OUTCOME_KINDS,
    Annotation,
    Conversation,
    ConversationTag,
    Handoff,
    LoginThrottle,
    Outcome,
    PersonNote,
    SyncState,
    User,
)
from bot.db.models.people import AlertDelivery, Erasure, Person, Subscription
from bot.db.models.studio import AuditEntry, LearnedExample, Misunderstood, ModelVersion, StudioJob

__all__ = [
    "HANDOFF_OPEN",
    "OUTCOME_KINDS",
    "NAMING_CONVENTION",
    "Base",
    "AlertDelivery",
    "Annotation",
    "AuditEntry",
    "ButtonPayload",
    "Conversation",
    "ConversationTag",
    "DetailsViewed",
    "Erasure",
    "Handoff",
    "InboundUpdate",
    "LearnedExample",
    "LoginThrottle",
    "Misunderstood",
    "ModelVersion",
    "Opportunity",
    "OpportunityTopic",
    "OutboxMessage",
    "Outcome",
    "Person",
    "PersonNote",
    "StudioJob",
    "Subscription",
    "SyncState",
    "Topic",
    "TopicLabel",
    "User",
]
