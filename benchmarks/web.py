"""ifmatch in each web framework against the same views without it and against the peers.

One app per server (``apps/``): Django REST framework and plain Django share one Django
project under gunicorn, Flask runs under gunicorn, FastAPI under uvicorn, each with the same
number of worker processes, all on one scratch PostgreSQL database. ``wrk`` loads them from a
separate process. Per framework:

- GET overhead: ifmatch's 200 / the same view without ifmatch (target >= 0.95);
- 304 / 200 for ifmatch and each peer, for a single text field of 1 KB, 100 KB and 1 MB and for
  10, 1,000 and 10,000 nested objects built by the framework's usual serializer;
- conditional PUT (If-Match, guarded UPDATE) / unconditional PUT (target >= 0.9), and (DRF) the
  same PUT with an Idempotency-Key / without one (target >= 0.9);
- the lost-update race: committed writes/s and lost updates with 1, 4, 16 and 64 concurrent
  writers doing GET -> PUT If-Match -> retry, ifmatch against check-then-write peers.

    python -m benchmarks --only django flask fastapi [--quick]
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from .apps import shapes
from .harness import cells, servers
from .harness.cells import Options, interleave
from .harness.machine import Conditions
from .harness.records import Finding, Ratio, Result, Series, Target

#: Resources whose 200 is also measured without ifmatch (GET overhead).
OVERHEAD = ("field-1KB", "nested-100KB")
#: ifmatch's 304 / 200 targets (issue: >= 5x at 1,000 objects, >= 10x at 1 MB, >= 1x at 1 KB).
NOT_MODIFIED_TARGETS = {
    "field-1KB": Target(">=", 1),
    "nested-1KB": Target(">=", 1),
    "nested-100KB": Target(">=", 5),
    "field-1MB": Target(">=", 10),
}
WRITERS = (1, 4, 16, 64)
QUICK_RESOURCES = ("nested-100KB",)
QUICK_WRITERS = (16,)


@dataclass(frozen=True)
class Peer:
    name: str  # the URL segment
    title: str
    tag_source: str  # "body hash" or "version function"


@dataclass(frozen=True)
class Framework:
    name: str
    title: str
    serializer: str
    peers: tuple[Peer, ...]
    racers: tuple[Peer, ...]  # check-then-write peers in the lost-update race


@dataclass(frozen=True)
class App:
    name: str
    frameworks: tuple[Framework, ...]
    seed: str  # module run once to create and fill the tables
    target: str  # WSGI app or ASGI factory
    server: str  # "gunicorn" or "uvicorn"
    env: tuple[tuple[str, str], ...] = ()

    def argv(self, port: int, options: Options, *, race: bool = False) -> list[str]:
        if self.server == "uvicorn":
            return servers.uvicorn(self.target, port)
        # gthread workers accept connections as fast as they can, so one worker often took
        # all of wrk's keep-alive connections and the cell ran at half speed. For the reads
        # and PUTs each worker accepts at most its share; the race server, whose writers
        # outnumber the threads, takes every connection.
        share = None if race else -(-options.connections // servers.WORKERS)
        return servers.gunicorn(
            self.target,
            port,
            worker_class=options.worker_class,
            threads=options.threads,
            worker_connections=share,
        )


DRF_EXTENSIONS = Peer("drf-extensions", "drf-extensions APIETAGMixin", "body hash")
PARIS = Peer("paris-decorator", "Paris.py talk decorator", "body hash")
CONDITION = Peer("condition", "Django condition()", "version function")
CONDITIONAL_GET = Peer("conditional-get", "Django ConditionalGetMiddleware", "body hash")
SMOREST = Peer("flask-smorest", "flask-smorest @blp.etag", "body hash")
WERKZEUG = Peer("werkzeug", "Werkzeug make_conditional", "body hash")
FASTAPI_ETAG = Peer("fastapi-etag", "fastapi-etag", "version function")

APPS = {
    "django": App(
        "django",
        (
            Framework(
                "drf", "Django REST framework", "ModelSerializer", (DRF_EXTENSIONS,), (PARIS,)
            ),
            Framework(
                "django",
                "Django",
                "values() + JsonResponse",
                (CONDITION, CONDITIONAL_GET),
                (CONDITION,),
            ),
        ),
        seed="benchdjango.seed",
        target="benchdjango.wsgi:application",
        server="gunicorn",
        env=(("DJANGO_SETTINGS_MODULE", "benchdjango.settings"),),
    ),
    "flask": App(
        "flask",
        (Framework("flask", "Flask", "marshmallow", (SMOREST, WERKZEUG), (SMOREST,)),),
        seed="sa_models",
        target="flask_app:create_app()",
        server="gunicorn",
    ),
    "fastapi": App(
        "fastapi",
        (Framework("fastapi", "FastAPI", "pydantic", (FASTAPI_ETAG,), ()),),
        seed="sa_models",
        target="fastapi_app:create_app",
        server="uvicorn",
    ),
}


@contextlib.contextmanager
def running(app: App, options: Options) -> Iterator[tuple[servers.Server, servers.Server]]:
    """A scratch database with the documents, and two servers of the app on it: one for the
    reads and PUTs, one for the lost-update race."""
    with servers.scratch_database() as db:
        env = {"IFMATCH_BENCH_DATABASE_URL": db.url(), **dict(app.env)}
        subprocess.run(
            [sys.executable, "-m", app.seed],
            cwd=servers.APPS,
            env=servers.subprocess_env(**env),
            check=True,
        )
        port, race_port = servers.free_port(), servers.free_port()
        with (
            servers.serve(app.argv(port, options), port, env, db) as server,
            servers.serve(app.argv(race_port, options, race=True), race_port, env, db) as racer,
        ):
            yield server, racer


def doc_path(framework: Framework, impl: str, doc_id: int) -> str:
    return f"/{framework.name}/{impl}/docs/{doc_id}"


def current_etag(server: servers.Server, path: str) -> str:
    status, headers, _ = servers.request(server.port, "GET", path)
    if status != 200 or "etag" not in headers:
        raise RuntimeError(f"GET {path}: {status}, no ETag")
    return headers["etag"]


def _reading_cells(
    server: servers.Server, framework: Framework, shape: shapes.Shape, options: Options
) -> list[cells.Cell]:
    found = []
    impls = ["ifmatch", *(peer.name for peer in framework.peers)]
    for impl in impls:
        path = doc_path(framework, impl, shape.doc_id)
        name = f"{framework.name} {impl}"
        found.append(cells.get_cell(f"{name} 200 {shape.key}", server, path, options))
        tag = {"If-None-Match": current_etag(server, path)}
        found.append(
            cells.get_cell(
                f"{name} 304 {shape.key}", server, path, options, headers=tag, expect=304
            )
        )
    if shape.key in OVERHEAD:
        path = doc_path(framework, "bare", shape.doc_id)
        name = f"{framework.name} bare"
        found.append(cells.get_cell(f"{name} 200 {shape.key}", server, path, options))
    return found


def _put_cells(server: servers.Server, framework: Framework) -> list[cells.Cell]:
    body = json.dumps({"title": "put", "text": shapes.PUT_TEXT})
    found = []
    impls = [("bare", False), ("ifmatch", True)]
    if framework.name == "drf":
        impls.append(("keyed", True))  # the same view honouring Idempotency-Key
    for impl, conditional in impls:
        found.append(
            cells.put_cell(
                f"{framework.name} {impl} PUT",
                server,
                f"/{framework.name}/{impl}/docs/",
                base=shapes.PUT_BASE,
                conditional=conditional,
                body=body,
                writers=shapes.WRITERS,
                keyed=impl == "keyed",
            )
        )
    return found


def _race_cells(server: servers.Server, framework: Framework, writers: int) -> list[cells.Cell]:
    return [
        cells.race_cell(
            f"{framework.name} {impl} race {writers}",
            server,
            doc_path(framework, impl, shapes.RACE_ID),
            writers,
        )
        for impl in ("ifmatch", *(peer.name for peer in framework.racers))
    ]


def measure_framework(
    server: servers.Server, racer: servers.Server, framework: Framework, options: Options
) -> list[Series]:
    """Every cell of one framework, block by block."""
    found: list[Series] = []
    keys = QUICK_RESOURCES if options.quick else tuple(s.key for s in shapes.RESOURCES)
    for key in keys:
        shape = shapes.BY_KEY[key]
        block = _reading_cells(server, framework, shape, options)
        found += interleave(block, options, f"{framework.name} {key}")
    found += interleave(_put_cells(server, framework), options, f"{framework.name} PUT")
    racing = replace(options, repetitions=min(options.repetitions, 3))
    for writers in QUICK_WRITERS if options.quick else WRITERS:
        race = _race_cells(racer, framework, writers)
        found += interleave(race, racing, f"{framework.name} race {writers}")
    return found


def analyse(framework: Framework, result: Result) -> None:
    """Ratios and findings from the series of one framework."""
    name = framework.name
    present = {s.name for s in result.series}

    def has(*names: str) -> bool:
        return all(n in present for n in names)

    for key in OVERHEAD:
        top, bottom = f"{name} ifmatch 200 {key}", f"{name} bare 200 {key}"
        if has(top, bottom):
            result.ratios.append(
                Ratio.of(
                    f"{name}.get_overhead.{key}",
                    f"{framework.title}: GET 200 ifmatch / bare, {shapes.BY_KEY[key].label}",
                    result.get(top),
                    result.get(bottom),
                    Target(">=", 0.95),
                )
            )
    for shape in shapes.RESOURCES:
        ours = None
        for impl in ("ifmatch", *(peer.name for peer in framework.peers)):
            top, bottom = f"{name} {impl} 304 {shape.key}", f"{name} {impl} 200 {shape.key}"
            if not has(top, bottom):
                continue
            ratio = Ratio.of(
                f"{name}.not_modified.{impl}.{shape.key}",
                f"{framework.title}: {impl} 304 / 200, {shape.label}",
                result.get(top),
                result.get(bottom),
                NOT_MODIFIED_TARGETS.get(shape.key) if impl == "ifmatch" else None,
            )
            result.ratios.append(ratio)
            if impl == "ifmatch":
                ours = ratio
            elif ours is not None:
                result.findings.append(
                    Finding(
                        f"{name}.beats.{impl}.{shape.key}",
                        f"{framework.title}: ifmatch's 304/200 over {impl}'s, {shape.label}",
                        ours.median / ratio.median,
                        Target(">", 1),
                    )
                )
                # The 304 itself, side by side: a peer whose 200 is slow can have the larger
                # 304/200 with the slower 304.
                result.ratios.append(
                    Ratio.of(
                        f"{name}.not_modified_vs.{impl}.{shape.key}",
                        f"{framework.title}: 304 req/s, ifmatch / {impl}, {shape.label}",
                        result.get(f"{name} ifmatch 304 {shape.key}"),
                        result.get(top),
                    )
                )
    if has(f"{name} ifmatch PUT", f"{name} bare PUT"):
        result.ratios.append(
            Ratio.of(
                f"{name}.put",
                f"{framework.title}: PUT If-Match (guarded) / unconditional PUT",
                result.get(f"{name} ifmatch PUT"),
                result.get(f"{name} bare PUT"),
                Target(">=", 0.9),
            )
        )
    if has(f"{name} keyed PUT", f"{name} ifmatch PUT"):
        result.ratios.append(
            Ratio.of(
                f"{name}.put_keyed",
                f"{framework.title}: PUT If-Match with an Idempotency-Key / without one",
                result.get(f"{name} keyed PUT"),
                result.get(f"{name} ifmatch PUT"),
                Target(">=", 0.9),
            )
        )
    for writers in WRITERS:
        for impl in ("ifmatch", *(peer.name for peer in framework.racers)):
            cell = f"{name} {impl} race {writers}"
            if cell not in present:
                continue
            series = result.get(cell)
            lost = sum(series.extra["lost"])
            acknowledged = sum(series.extra["acknowledged"])
            result.findings.append(
                Finding(
                    f"{name}.lost.{impl}.{writers}",
                    f"{framework.title}: {impl} lost updates, {writers} writers",
                    lost,
                    Target("==", 0) if impl == "ifmatch" else Target(">=", 0),
                    f"{lost:.0f} of {acknowledged:.0f} acknowledged writes lost",
                )
            )


def run_app(name: str, options: Options) -> list[Result]:
    """Start the app's server once and measure each of its frameworks."""
    app = APPS[name]
    conditions = Conditions()
    results = []
    with running(app, options) as (server, racer):
        for framework in app.frameworks:
            series = measure_framework(server, racer, framework, options)
            result = Result(
                framework.name,
                f"{framework.title} ({app.server}, {servers.WORKERS} workers)",
                context={
                    "server": server.description,
                    "serializer": framework.serializer,
                    "peers": {p.name: p.tag_source for p in framework.peers},
                    "racers": [p.name for p in framework.racers],
                    "wrk_connections": options.connections,
                },
                series=series,
            )
            analyse(framework, result)
            results.append(result)
    for result in results:
        result.context["conditions"] = conditions.finish()
    return results


def runner(name: str) -> Callable[[Options], list[Result]]:
    return lambda options: run_app(name, options)
