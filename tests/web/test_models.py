"""Revisions are immutable in the model itself, and their slugs cannot be guessed."""

from __future__ import annotations

import math
import re

import pytest
from django.db import transaction
from django.db.models import ProtectedError

from editor.models import Document, ImmutableRevisionError, Revision, StaleParentError, save_revision

pytestmark = pytest.mark.django_db

DOC = {"schema": "fenceline/v1", "name": "one"}


def test_it_refuses_to_change_a_saved_revision():
    revision = save_revision(DOC)
    revision.data = {"schema": "fenceline/v1", "name": "changed"}
    with pytest.raises(ImmutableRevisionError, match="revisions are immutable: cannot change"):
        revision.save()
    assert Revision.objects.get(pk=revision.pk).data == DOC


def test_it_refuses_queryset_updates_and_deletes():
    revision = save_revision(DOC)
    with pytest.raises(ImmutableRevisionError):
        Revision.objects.filter(pk=revision.pk).update(data={})
    with pytest.raises(ImmutableRevisionError):
        Revision.objects.all().delete()
    with pytest.raises(ImmutableRevisionError):
        revision.document.revisions.update(number=7)
    with pytest.raises(ImmutableRevisionError), transaction.atomic():
        Revision.objects.bulk_update([revision], ["data"])
    assert Revision.objects.get(pk=revision.pk).data == DOC


def test_it_refuses_to_delete_a_revision_or_its_document():
    revision = save_revision(DOC)
    with pytest.raises(ImmutableRevisionError):
        revision.delete()
    with pytest.raises(ProtectedError):
        Document.objects.filter(pk=revision.document_id).delete()
    assert Revision.objects.filter(pk=revision.pk).exists()


def test_it_gives_each_revision_an_unguessable_slug():
    slugs = {save_revision(DOC).slug for _ in range(50)}
    assert len(slugs) == 50
    for slug in slugs:
        assert re.fullmatch(r"[A-Za-z0-9_-]{30}", slug)
        assert len(slug) * math.log2(64) >= 128  # 30 url-safe base64 characters carry 176 random bits
    # The characters are spread like random data would be, not a counter or a timestamp.
    assert len(set("".join(slugs))) > 50


def test_it_chains_revisions_and_detects_a_stale_parent():
    first = save_revision(DOC)
    second = save_revision({**DOC, "name": "two"}, first)
    assert (second.document_id, second.number, second.parent_id) == (first.document_id, 2, first.pk)
    assert second.document.name == "two"
    with pytest.raises(StaleParentError, match="revision 1 is not the latest of this document any more"):
        save_revision({**DOC, "name": "three"}, first)
    fork = save_revision({**DOC, "name": "fork"}, first, fork=True)
    assert fork.document_id != first.document_id
    assert (fork.number, fork.parent_id) == (1, first.pk)
