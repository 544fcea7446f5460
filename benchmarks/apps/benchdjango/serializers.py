from __future__ import annotations

from rest_framework import serializers

from .models import Document, Item


class ItemSerializer(serializers.ModelSerializer[Item]):
    class Meta:
        model = Item
        fields = ["id", "position", "name", "value", "tags"]


class DocumentSerializer(serializers.ModelSerializer[Document]):
    items = ItemSerializer(many=True, read_only=True)

    class Meta:
        model = Document
        fields = ["id", "title", "text", "items"]
