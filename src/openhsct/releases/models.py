"""Storage of releases: content-addressed parts, the release (manifest, state) and centre flags.

A part is stored once under the SHA-256 of its bytes; a release names its parts in its manifest, and its
id is derived from the manifest, so the same registry, cut, code and settings give the same release.
The bytes of a published release never change; the only later changes are the state (withdrawn) and its
erratum note.
"""

from __future__ import annotations

from django.db import models


class ReleasePart(models.Model):
    """The bytes of one part, keyed by their SHA-256 (hex)."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    data = models.BinaryField()
    size = models.PositiveBigIntegerField()

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.size} bytes)"


class Release(models.Model):
    """One data release: a cut of the registry, its manifest and its state."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft (centre preview)"
        PUBLISHED = "published", "Published"
        WITHDRAWN = "withdrawn", "Withdrawn"

    id = models.CharField(max_length=16, primary_key=True, help_text="First 16 hex digits of the manifest's SHA-256")
    cut = models.DateField(help_text="Data cut: everything dated on or before this day")
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    manifest = models.JSONField()
    manifest_sha256 = models.CharField(max_length=64)
    notes = models.TextField(blank=True, default="", help_text="What changed since the previous release")
    erratum = models.TextField(blank=True, default="", help_text="Public note shown when withdrawn")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.CharField(max_length=150, blank=True, default="")
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        ordering = ["-cut", "-created_at"]

    def __str__(self) -> str:
        return f"{self.id} (cut {self.cut}, {self.state})"


class ReleaseFlag(models.Model):
    """A centre's comment on one number of a draft release, for the monitor to answer before publishing."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="flags")
    centre_code = models.CharField(max_length=32, db_index=True)
    item = models.CharField(max_length=200, help_text="Which number: a section and a line of the page")
    comment = models.TextField()
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.centre_code}: {self.item}"
