"""SQLAlchemy 2 models of the application database, one module per topic (catalogue, people,
coaching, studio, channel, reach). Import them from here: every model is registered with `Base` once
this package is imported."""

from bot.db.models.base import NAMING_CONVENTION, Base
from bot.db.models.catalogue import DetailsViewed, Opportunity, OpportunityTopic, Topic, TopicLabel
from bot.db.models.channel import (
    ButtonPayload,
    ChannelFact,
    Claim,
    InboundUpdate,
    OutboxMessage,
)
from bot.db.models.coaching import (
    HANDOFF_OPEN,
    OUTCOME_KINDS,
    OUTCOME_SOURCES,
    Annotation,
    Conversation,
    ConversationTag,
    Handoff,
    LoginThrottle,
    Outcome,
    PersonNote,
    SavedReply,
    SyncState,
    User,
)
from bot.db.models.people import AlertDelivery, Erasure, Person, Subscription
from bot.db.models.plans import APPOINTMENT_STATUSES, Appointment, PlanStep
from bot.db.models.reach import (
    VENUES,
    Broadcast,
    BulkMessage,
    Campaign,
    CampaignStart,
    CheckIn,
    Rating,
)
from bot.db.models.studio import AuditEntry, LearnedExample, Misunderstood, ModelVersion, StudioJob

__all__ = [
    "APPOINTMENT_STATUSES",
    "Appointment",
    "PlanStep",
    "HANDOFF_OPEN",
    "OUTCOME_KINDS",
    "OUTCOME_SOURCES",
    "VENUES",
    "NAMING_CONVENTION",
    "Base",
    "AlertDelivery",
    "Annotation",
    "AuditEntry",
    "Broadcast",
    "BulkMessage",
    "Campaign",
    "CampaignStart",
    "ChannelFact",
    "Claim",
    "CheckIn",
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
    "Rating",
    "SavedReply",
    "StudioJob",
    "Subscription",
    "SyncState",
    "Topic",
    "TopicLabel",
    "User",
]
