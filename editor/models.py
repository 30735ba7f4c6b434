"""Saved drawings: a Document is the thing people edit; each save adds an immutable Revision.

A revision's slug is its permalink. It carries 176 random bits (secrets.token_urlsafe(22)), so revisions
cannot be enumerated or guessed; the integer primary keys never appear in a URL.
"""

from __future__ import annotations

import secrets
from typing import Any, NoReturn

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.db import models, transaction


def new_slug() -> str:
    return secrets.token_urlsafe(22)


class ImmutableRevisionError(Exception):
    """A revision is a permalink that other people may have applied to a cluster: it never changes."""

    def __init__(self, action: str) -> None:
        super().__init__(f"revisions are immutable: cannot {action} a saved revision; save a new revision instead")


class Document(models.Model):
    """A drawing and its revisions. With sign-in on, whoever saved its first revision owns it; only the owner and
    the editors (people, or members of groups) add revisions, everybody else who can see it may fork it."""

    name = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    # SET_NULL: a deleted account leaves its drawings open to anyone who may save, as drawings made without sign-in.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="owned_documents"
    )
    editors = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="editable_documents")
    editor_groups = models.ManyToManyField(Group, blank=True, related_name="editable_documents")

    def __str__(self) -> str:
        return self.name or "Untitled"

    def may_add_revisions(self, user: AbstractBaseUser | AnonymousUser) -> bool:
        """Whether `user` may continue this drawing (a drawing without an owner is open, as without sign-in)."""
        if self.owner_id is None:
            return True
        if not user.is_authenticated:
            return False
        if user.pk == self.owner_id or getattr(user, "is_superuser", False):
            return True
        return (
            self.editors.filter(pk=user.pk).exists()
            or self.editor_groups.filter(pk__in=user.groups.values("pk")).exists()  # type: ignore[attr-defined]
        )

    def latest_revision(self, *, drawing: bool = True) -> Revision | None:
        """The newest revision; with `drawing=False` without its drawing (its number and address only: a whole
        cluster's drawing takes tens of ms to decode)."""
        revisions = self.revisions.all() if drawing else self.revisions.defer("data")
        return revisions.order_by("-number").first()


class RevisionQuerySet(models.QuerySet["Revision"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise ImmutableRevisionError("update")

    def delete(self) -> NoReturn:
        raise ImmutableRevisionError("delete")


class Revision(models.Model):
    # PROTECT: deleting a document must not silently take its permalinks with it (a cascade would bypass delete()).
    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="revisions")
    number = models.PositiveIntegerField()  # 1, 2, 3, ... within the document
    slug = models.CharField(max_length=64, unique=True, default=new_slug, editable=False)
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="children")
    data = models.JSONField()  # the graph document (fenceline/v1)
    author = models.CharField(max_length=150, blank=True, default="")  # the user name then; "" without sign-in
    created = models.DateTimeField(auto_now_add=True)

    objects = RevisionQuerySet.as_manager()

    class Meta:
        constraints = (models.UniqueConstraint(fields=("document", "number"), name="unique_revision_number"),)
        ordering = ("document", "number")

    def __str__(self) -> str:
        return f"{self.document} r{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRevisionError("change")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ImmutableRevisionError("delete")

    @property
    def name(self) -> str:
        return str(self.data.get("name") or "Untitled")


class CompiledAnswer(models.Model):
    """A saved revision's compile answer as the editor asks for it when it opens the revision
    (api.revision_compiled_view): kept with the revision, so that opening a whole cluster does not wait seconds for
    its compile, in any worker, after a restart too. One per revision and `key` (dialect, view, limits and the
    compiler's version: a new compiler makes new answers)."""

    revision = models.ForeignKey(Revision, on_delete=models.CASCADE, related_name="compiled_answers")
    key = models.CharField(max_length=200)
    body = models.BinaryField()  # the answer's JSON, zlib-compressed (a whole cluster's: 3.7 MB, 0.3 MB stored)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = (models.UniqueConstraint(fields=("revision", "key"), name="unique_compiled_answer"),)


class NotAnEditorError(Exception):
    """The user may view and fork this drawing, but not add revisions to it."""

    def __init__(self, document: Document) -> None:
        self.document = document
        owner = document.owner.get_username() if document.owner else "its owner"
        super().__init__(
            f"only {owner} and the editors they named may add revisions to this drawing; save your drawing as a fork "
            "(your own copy, which remembers where it came from)"
        )


class StaleParentError(Exception):
    """The revision a save starts from is no longer the latest of its document: someone else saved meanwhile."""

    def __init__(self, parent: Revision, latest: Revision) -> None:
        self.parent = parent
        self.latest = latest
        by = f" by {latest.author}" if latest.author else ""
        super().__init__(
            f"revision {parent.number} is not the latest of this document any more: revision {latest.number} was "
            f"saved{by} at {latest.created:%Y-%m-%d %H:%M:%S} UTC. Save your drawing as a fork, or open the latest "
            "revision and redo your change there."
        )


def save_revision(
    data: dict[str, Any],
    parent: Revision | None = None,
    *,
    fork: bool = False,
    author: str = "",
    user: AbstractBaseUser | None = None,
) -> Revision:
    """Store `data` (a valid document) as a new immutable revision.

    Without a parent (or with `fork`) it starts a new document; a fork remembers the revision it came from.
    Otherwise it continues the parent's document, which must not have moved on since the parent: the document
    row is locked (SELECT ... FOR UPDATE) so that of two concurrent saves from the same parent exactly one wins
    and the other gets StaleParentError. `author` is the signed-in user's name ("" when nobody is). `user` is
    who saves when sign-in is on (None when it is off): a new document becomes theirs, and continuing one needs
    `may_add_revisions` (NotAnEditorError otherwise).
    """
    name = str(data.get("name") or "")[:200]
    with transaction.atomic():
        if parent is None or fork:
            owner = user if user is not None and user.is_authenticated else None
            document = Document.objects.create(name=name, owner=owner)
            return Revision.objects.create(document=document, number=1, parent=parent, data=data, author=author)
        document = Document.objects.select_for_update().get(pk=parent.document_id)
        if user is not None and not document.may_add_revisions(user):
            raise NotAnEditorError(document)
        latest = document.latest_revision()
        assert latest is not None  # a parent revision belongs to this document
        if latest.pk != parent.pk:
            raise StaleParentError(parent, latest)
        document.name = name
        document.save(update_fields=["name", "updated"])
        return Revision.objects.create(
            document=document, number=latest.number + 1, parent=parent, data=data, author=author
        )


# Observation streams live in their own module (one concept per module); importing them here registers them
# with the editor app.
from editor.observation_models import DriftDismissal, Observation, ObservationStream, StagedRevision  # noqa: E402, F401
