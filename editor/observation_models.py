"""Observation streams and the traffic they report, aggregated (issue 17).

A stream belongs to one drawing. Its token is shown once, when it is made, and stored only as a SHA-256
hash: the token is 256 random bits, so a plain hash is as strong as a slow one and costs nothing per request.
Revoking sets `revoked`; the intake looks the stream up on every request, so a revoked token is refused at
once. Observations are one row per (drawing, edge key, bucket): counts add up as pieces arrive.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.db import models

from editor.models import Document, new_slug

TOKEN_PREFIX = "flst_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ObservationStream(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="observation_streams")
    slug = models.CharField(max_length=64, unique=True, default=new_slug, editable=False)
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64)
    created = models.DateTimeField(auto_now_add=True)
    revoked = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    flows = models.BigIntegerField(default=0)  # flows acknowledged so far

    class Meta:
        ordering = ("document", "created")

    def __str__(self) -> str:
        return f"{self.name} ({self.document})"

    @classmethod
    def create(cls, document: Document, name: str) -> tuple[ObservationStream, str]:
        """A new stream and its token; the token is not stored and cannot be shown again."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        stream = cls.objects.create(document=document, name=name, token_hash=hash_token(token))
        return stream, token

    def accepts(self, token: str) -> bool:
        return self.revoked is None and hmac.compare_digest(self.token_hash, hash_token(token))


class Observation(models.Model):
    """Traffic on one edge in one time bucket (an hour, or a day once older than a week)."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="observations")
    key = models.CharField(max_length=64)  # observe.edge_key: what the edge means
    bucket = models.DateTimeField()
    day = models.BooleanField(default=False)  # the bucket is a day
    edge = models.JSONField()  # {"source": node, "target": node, "protocol", "port"} for replay and display
    count = models.BigIntegerField(default=0)
    denied = models.BigIntegerField(default=0)  # of which the cluster's policies dropped
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        constraints = (models.UniqueConstraint(fields=("document", "key", "bucket"), name="unique_observation_bucket"),)
        indexes = (models.Index(fields=("document", "bucket")),)

    def __str__(self) -> str:
        return f"{self.key[:12]} @ {self.bucket:%Y-%m-%d %H:00}"


class StagedRevision(models.Model):
    """A revision of the drawing being tried against everything observed since `since`, before it goes live.

    One stage per drawing at a time. Adding an observed connection saves a new revision and the stage moves to
    it; promoting saves the staged drawing as the latest revision (when it is not already) and ends the stage.
    """

    document = models.OneToOneField(Document, on_delete=models.CASCADE, related_name="stage")
    revision = models.ForeignKey("editor.Revision", on_delete=models.PROTECT, related_name="stages")
    since = models.DateTimeField()
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.revision} staged since {self.since:%Y-%m-%d}"


class DriftDismissal(models.Model):
    """A drift item someone dismissed: an observed edge key, or "edge:<id>" for a drawn edge left unused."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="drift_dismissals")
    key = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = (models.UniqueConstraint(fields=("document", "key"), name="unique_drift_dismissal"),)

    def __str__(self) -> str:
        return f"dismissed {self.key[:20]}"


class StagedDenial(models.Model):
    """An observed connection the staged revision would deny: the staged report, kept as observations arrive.

    editor.staged_store writes these in the transaction that stores each piece of a stream (only the edge keys
    that piece brought are judged, and only new keys are replayed), and rebuilds them when the stage starts or
    moves to another revision. The staged view and readiness read them; nothing is replayed at page load.
    """

    stage = models.ForeignKey(StagedRevision, on_delete=models.CASCADE, related_name="denials")
    key = models.CharField(max_length=64)  # the observation's edge key
    workload = models.CharField(max_length=300)  # the group it is listed under
    source = models.CharField(max_length=300)
    target = models.CharField(max_length=300)
    protocol = models.CharField(max_length=16)
    port = models.IntegerField(null=True, blank=True)
    reason = models.TextField()  # which side's policy denies it
    count = models.BigIntegerField(default=0)  # flows since the stage's date
    denied = models.BigIntegerField(default=0)  # of which the cluster dropped when observed
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        constraints = (models.UniqueConstraint(fields=("stage", "key"), name="unique_staged_denial"),)
        indexes = (models.Index(fields=("stage", "last_seen")),)

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} {self.protocol}/{self.port}"
