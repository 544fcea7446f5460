"""A flask-rest-jsonapi-next API the JSON:API tests drive: articles (with a to-one author and
to-many comments) served by ifmatch's ``ResourceDetail`` / ``ResourceList``, and the same
articles served by the library's own classes (``/naive/...``) for the race test to catch.

``create_app(url)`` runs on any SQLAlchemy URL; with ``IFMATCH_JSONAPI_DATABASE_URL`` set
(gunicorn workers), ``create_app()`` uses it.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, abort, request
from flask_rest_jsonapi_next import Api
from flask_rest_jsonapi_next import ResourceDetail as PlainDetail
from flask_rest_jsonapi_next import ResourceList as PlainList
from flask_sqlalchemy import SQLAlchemy
from marshmallow_jsonapi import fields
from marshmallow_jsonapi.flask import Relationship, Schema
from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ifmatch.integrations.flask import IfMatch
from ifmatch.integrations.flask_rest_jsonapi import ResourceDetail, ResourceList
from ifmatch.stores.sqlalchemy import Versioned

DATABASE_URL_ENV = "IFMATCH_JSONAPI_DATABASE_URL"


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Author(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "jsonapi_authors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), default="")


class Article(Versioned, db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "jsonapi_articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    secret: Mapped[bool] = mapped_column(default=False)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("jsonapi_authors.id"))
    author: Mapped[Author | None] = relationship()
    comments: Mapped[list[Comment]] = relationship(
        back_populates="article", cascade="all, delete-orphan"
    )


class Comment(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "jsonapi_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[str] = mapped_column(Text, default="")
    article_id: Mapped[int | None] = mapped_column(ForeignKey("jsonapi_articles.id"))
    article: Mapped[Article | None] = relationship(back_populates="comments")


class ArticleSchema(Schema):  # type: ignore[misc]
    class Meta:
        type_ = "article"
        model = Article
        self_view = "article_detail"
        self_view_kwargs = {"id": "<id>"}
        self_view_many = "article_list"

    id = fields.Str()
    title = fields.Str()
    text = fields.Str()
    author = Relationship(
        attribute="author",
        type_="author",
        schema="AuthorSchema",
        allow_none=True,
    )
    comments = Relationship(
        attribute="comments",
        type_="comment",
        schema="CommentSchema",
        many=True,
    )


class AuthorSchema(Schema):  # type: ignore[misc]
    class Meta:
        type_ = "author"
        model = Author

    id = fields.Str()
    name = fields.Str()


class CommentSchema(Schema):  # type: ignore[misc]
    class Meta:
        type_ = "comment"
        model = Comment

    id = fields.Str()
    body = fields.Str()


def _hide_secret(self: Any, view_kwargs: dict[str, Any]) -> None:
    """An access decision in the data layer: a secret article is 403 to everyone without the
    ``X-Owner`` header, before anything about it is answered."""
    if request.headers.get("X-Owner") == "yes":
        return
    found = db.session.get(Article, int(view_kwargs["id"]))
    if found is not None and found.secret:
        abort(403)


class ArticleDetail(ResourceDetail):
    schema = ArticleSchema
    data_layer = {
        "session": db.session,
        "model": Article,
        "methods": {"before_get_object": _hide_secret},
    }


class ArticleList(ResourceList):
    schema = ArticleSchema
    data_layer = {"session": db.session, "model": Article}


class NaiveArticleDetail(PlainDetail):  # type: ignore[misc]
    """The library's own resource: check nothing, write whatever comes last."""

    schema = ArticleSchema
    data_layer = {"session": db.session, "model": Article}


class NaiveArticleList(PlainList):  # type: ignore[misc]
    schema = ArticleSchema
    data_layer = {"session": db.session, "model": Article}


def create_app(url: str | None = None, **config: Any) -> Flask:
    """The API on the database at ``url`` (default: ``IFMATCH_JSONAPI_DATABASE_URL``)."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = url or os.environ[DATABASE_URL_ENV]
    app.config["SECRET_KEY"] = "jsonapi-tests-only"
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # One connection for every thread of an in-memory database.
        from sqlalchemy.pool import StaticPool

        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "poolclass": StaticPool,
            "connect_args": {"check_same_thread": False},
        }
    app.config.update(config)
    db.init_app(app)
    IfMatch(app)
    api = Api(app)
    api.route(ArticleList, "article_list", "/articles")
    api.route(ArticleDetail, "article_detail", "/articles/<int:id>")
    api.route(NaiveArticleList, "naive_article_list", "/naive/articles")
    api.route(NaiveArticleDetail, "naive_article_detail", "/naive/articles/<int:id>")
    with app.app_context():
        db.create_all()
    return app
