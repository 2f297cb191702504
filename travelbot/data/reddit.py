"""Reddit ingestion as the study did it: posts and flattened comment trees from travel subreddits, via PRAW.

    report = ingest(RedditQuery(subreddits=("travel", "solotravel"), limit=25), Path("raw/reddit.jsonl"))

Needs REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET (a "script" app from https://www.reddit.com/prefs/apps);
reads only, through app-only OAuth (client-credentials grant). Writes raw JSONL, one record per line::

    {"id": "t3_abc123" | "t1_def456",        # Reddit fullname, unique across posts and comments
     "kind": "post" | "comment",
     "subreddit": "travel",
     "post_id": "t3_abc123",                   # the thread the record belongs to
     "parent_id": null | "t3_..." | "t1_...",  # comments: what it replies to (may be a filtered-out comment)
     "depth": 0,                               # comments: 0 = top-level reply; posts: 0
     "title": "..." | null,                    # posts only
     "body": "...",                            # selftext ("" for a link post) or comment body
     "author": "name" | null,
     "score": 12, "num_comments": 34 | null,   # num_comments for posts only
     "created_utc": 1700000000.0,
     "permalink": "https://www.reddit.com/r/...",
     "source": {"type": "reddit", "listing": "top", "time_filter": "year" | null, "retrieved_at": "...Z"}}

Posts come first, each followed by its comments (parents before replies). Removed, deleted, bot, empty and
stickied content is skipped and counted by reason in the :class:`IngestReport`; so are unreadable subreddits.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from travelbot import __version__
from travelbot.config import Settings, get_settings
from travelbot.jsonl import write_jsonl
from travelbot.errors import TravelbotError

if TYPE_CHECKING:
    import praw

DEFAULT_SUBREDDITS = ("travel", "solotravel", "backpacking", "TravelHacks", "JapanTravel", "europetravel")
BOT_AUTHORS = ("AutoModerator", "TotesMessenger", "TweetPoster", "reddit")
LISTINGS = ("hot", "top", "new")
TIME_FILTERS = ("all", "year", "month", "week", "day", "hour")
ENDPOINTS = ("oauth_url", "reddit_url", "short_url")
REDDIT_WEB = "https://www.reddit.com"  # permalinks always name the public site, wherever PRAW was pointed
_SUBREDDIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{1,20}$")


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RedditQuery:
    """Which subreddits to read, from which listing, and how much of each thread to keep."""

    subreddits: tuple[str, ...] = DEFAULT_SUBREDDITS
    listing: str = "top"  # hot | top | new
    time_filter: str = "year"  # all | year | month | week | day | hour (only used by "top")
    limit: int = 50  # posts per subreddit
    comment_limit: int = 100  # comments kept per post after flattening (0: posts only)
    replace_more: int = 0  # "load more comments" stubs to expand per post (each costs one request)

    def __post_init__(self) -> None:
        if isinstance(self.subreddits, str):
            self.subreddits = (self.subreddits,)
        names = [str(name).strip().removeprefix("r/").removeprefix("/r/") for name in self.subreddits]
        if not names:
            raise TravelbotError("Name at least one subreddit to read, for example travel.")
        for name in names:
            if not _SUBREDDIT_NAME.match(name):
                raise TravelbotError(f"{name!r} is not a subreddit name: use 2-21 letters, digits or underscores.")
        self.subreddits = tuple(dict.fromkeys(names))
        if self.listing not in LISTINGS:
            raise TravelbotError(f"listing must be one of {', '.join(LISTINGS)}, not {self.listing!r}.")
        if self.time_filter not in TIME_FILTERS:
            raise TravelbotError(f"time_filter must be one of {', '.join(TIME_FILTERS)}, not {self.time_filter!r}.")
        for name, low, high in (("limit", 1, 1000), ("comment_limit", 0, 10_000), ("replace_more", 0, 1000)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise TravelbotError(f"{name} must be a whole number from {low} to {high}, not {value!r}.")


@dataclass
class IngestReport:
    """What one ingestion wrote and what it skipped, by reason, so nothing is dropped silently."""

    path: str = ""
    posts: int = 0
    comments: int = 0
    duplicates: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    subreddits: list[str] = field(default_factory=list)  # the ones that could be read
    unavailable: dict[str, str] = field(default_factory=dict)  # subreddit -> why it was skipped
    started_at: str = field(default_factory=utc_now)
    finished_at: str = ""

    def skip(self, reason: str, count: int = 1) -> None:
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + count

    def summary(self) -> dict[str, Any]:
        return asdict(self)


def reddit_client(settings: Settings | None = None, **endpoints: str) -> "praw.Reddit":
    """A read-only PRAW client (app-only OAuth); ``endpoints`` override PRAW's URLs (oauth_url, reddit_url,
    short_url), e.g. to talk to a recorded server on loopback."""
    settings = settings or get_settings()
    unknown = sorted(set(endpoints) - set(ENDPOINTS))
    if unknown:
        raise TypeError(f"unknown Reddit endpoint(s) {unknown}; expected some of {list(ENDPOINTS)}")
    missing = [name for name, value in (("REDDIT_CLIENT_ID", settings.reddit_client_id),
                                        ("REDDIT_CLIENT_SECRET", settings.reddit_client_secret)) if not value]
    if missing:
        raise TravelbotError(
            f"Reddit ingestion needs {' and '.join(missing)}: create a \"script\" app at "
            "https://www.reddit.com/prefs/apps and set its id and secret in the environment."
        )
    try:
        import praw
    except ImportError:
        raise TravelbotError("Reddit ingestion needs PRAW: install it with pip install praw.") from None
    client = praw.Reddit(
        client_id=settings.reddit_client_id,
        client_secret=settings.reddit_client_secret,
        user_agent=settings.reddit_user_agent or f"travelbot/{__version__} (by u/unknown)",
        username=None, password=None, refresh_token=None,  # never pick up an account from praw.ini
        check_for_updates=False,
        **endpoints,
    )
    client.read_only = True
    return client


def _attr(thing: Any, name: str, default: Any = None) -> Any:
    """An attribute PRAW already holds; ``getattr`` on a missing one would make PRAW fetch the object again."""
    return vars(thing).get(name, default)


def _author(thing: Any) -> str | None:
    author = _attr(thing, "author")
    return None if author is None else str(author)


def is_bot(author: str | None) -> bool:
    return author is not None and (author in BOT_AUTHORS or author.endswith(("bot", "Bot", "BOT")))


def skip_reason(thing: Any, kind: str) -> str | None:
    """Why a post or comment should not be kept, or ``None`` to keep it."""
    body = (_attr(thing, "selftext" if kind == "post" else "body") or "").strip()
    removed_by = _attr(thing, "removed_by_category")
    if removed_by in ("deleted", "author") or body == "[deleted]":
        return "deleted"
    if removed_by or body == "[removed]":
        return "removed"
    author = _author(thing)
    if author is None:
        return "deleted"
    if is_bot(author):
        return "bot"
    if kind == "post" and _attr(thing, "stickied"):
        return "stickied"
    if kind == "comment" and _attr(thing, "stickied") and _attr(thing, "distinguished"):
        return "stickied"
    if not body and (kind == "comment" or not (_attr(thing, "title") or "").strip()):
        return "empty"
    return None


def _record(thing: Any, kind: str, post_id: str, source: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    return {
        "id": thing.fullname,
        "kind": kind,
        "subreddit": str(_attr(thing, "subreddit") or ""),
        "post_id": post_id,
        "parent_id": _attr(thing, "parent_id") if kind == "comment" else None,
        "depth": depth,
        "title": _attr(thing, "title") if kind == "post" else None,
        "body": _attr(thing, "selftext" if kind == "post" else "body") or "",
        "author": _author(thing),
        "score": _attr(thing, "score"),
        "num_comments": _attr(thing, "num_comments") if kind == "post" else None,
        "created_utc": float(_attr(thing, "created_utc") or 0.0),
        "permalink": REDDIT_WEB + (_attr(thing, "permalink") or f"/comments/{thing.id}/"),
        "source": dict(source),
    }


def _thread_comments(submission: Any, query: RedditQuery, source: dict[str, Any], seen: set[str],
                     report: IngestReport) -> list[dict[str, Any]]:
    """Flatten one thread: the best ``comment_limit`` comments by score, a reply only after its parent."""
    submission.comment_sort = "top"
    submission.comments.replace_more(limit=query.replace_more)
    flat = []
    for comment in submission.comments.list():
        if comment.fullname in seen:
            report.duplicates += 1
        else:
            flat.append(comment)
    order = {c.fullname: index for index, c in enumerate(flat)}  # breadth-first: parents before replies
    replies: dict[str, list[Any]] = defaultdict(list)
    for comment in flat:
        parent = _attr(comment, "parent_id")
        replies[parent if parent in order else submission.fullname].append(comment)
    depth: dict[str, int] = {}
    candidates: list[tuple[int, int, Any]] = []
    reasons: Counter[str] = Counter()

    def offer(comment: Any, parent_depth: int) -> None:
        depth[comment.fullname] = parent_depth + 1
        reason = skip_reason(comment, "comment")
        if reason is None:
            heapq.heappush(candidates, (-(_attr(comment, "score") or 0), order[comment.fullname], comment))
            return
        reasons[reason] += 1  # a skipped comment is transparent: its replies still compete
        for reply in replies[comment.fullname]:
            offer(reply, parent_depth + 1)

    for comment in replies[submission.fullname]:
        offer(comment, -1)
    kept: list[Any] = []
    while candidates:
        _, _, comment = heapq.heappop(candidates)
        if len(kept) >= query.comment_limit:
            reasons["over_limit"] += 1
        else:
            kept.append(comment)
        for reply in replies[comment.fullname]:
            offer(reply, depth[comment.fullname])
    for reason, count in reasons.items():
        report.skip(reason, count)
    kept.sort(key=lambda c: order[c.fullname])
    seen.update(c.fullname for c in flat)
    return [_record(c, "comment", submission.fullname, source, depth[c.fullname]) for c in kept]


def _listing(client: Any, name: str, query: RedditQuery) -> list[Any]:
    subreddit = client.subreddit(name)
    if query.listing == "top":
        return list(subreddit.top(time_filter=query.time_filter, limit=query.limit))
    return list(getattr(subreddit, query.listing)(limit=query.limit))


def _reddit_error(exc: Exception) -> TravelbotError:
    """One sentence for a failure talking to Reddit."""
    from prawcore import exceptions as pc

    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, (pc.OAuthException, pc.InvalidToken)) or status == 401:
        return TravelbotError(f"Reddit refused the credentials (HTTP {status or 401}): check REDDIT_CLIENT_ID and "
                              "REDDIT_CLIENT_SECRET against your app at https://www.reddit.com/prefs/apps.")
    if isinstance(exc, pc.RequestException):
        return TravelbotError(f"Could not reach Reddit ({type(exc.original_exception).__name__}): "
                              "check the network or REDDIT_* credentials.")
    if isinstance(exc, pc.TooManyRequests):
        return TravelbotError("Reddit is rate-limiting these requests (HTTP 429): wait a few minutes or lower limit.")
    if isinstance(exc, pc.ServerError):
        return TravelbotError(f"Reddit answered with a server error (HTTP {status}): try again in a few minutes.")
    if status is not None:
        return TravelbotError(f"Reddit answered HTTP {status}: check the subreddit names and REDDIT_* credentials.")
    return TravelbotError(f"Reddit ingestion failed ({type(exc).__name__}: {exc}): try again or lower the limits.")


def fetch(query: RedditQuery, client: Any, report: IngestReport | None = None) -> Iterator[dict[str, Any]]:
    """Raw records, de-duplicated by fullname and filtered; counts go to ``report`` when given."""
    from praw.exceptions import PRAWException
    from prawcore import exceptions as pc

    report = report if report is not None else IngestReport()
    seen: set[str] = set()
    try:
        for name in query.subreddits:
            try:
                submissions = _listing(client, name, query)
            except (pc.Forbidden, pc.NotFound, pc.Redirect) as exc:  # Reddit redirects unknown names to search
                forbidden = isinstance(exc, pc.Forbidden)
                report.skip("subreddit_forbidden" if forbidden else "subreddit_not_found")
                report.unavailable[name] = "private or quarantined" if forbidden else "banned or does not exist"
                continue
            report.subreddits.append(name)
            for submission in submissions:
                if submission.fullname in seen:
                    report.duplicates += 1
                    continue
                seen.add(submission.fullname)
                reason = skip_reason(submission, "post")
                if reason is not None:
                    report.skip(reason)
                    continue
                source = {"type": "reddit", "listing": query.listing,
                          "time_filter": query.time_filter if query.listing == "top" else None,
                          "retrieved_at": utc_now()}
                report.posts += 1
                yield _record(submission, "post", submission.fullname, source)
                if query.comment_limit == 0:
                    continue
                try:
                    comments = _thread_comments(submission, query, source, seen, report)
                except (pc.Forbidden, pc.NotFound):
                    report.skip("thread_unavailable")
                    continue
                report.comments += len(comments)
                yield from comments
    except (pc.PrawcoreException, PRAWException) as exc:
        raise _reddit_error(exc) from exc


def ingest(query: RedditQuery, out: Path, settings: Settings | None = None, client: Any = None) -> IngestReport:
    """Fetch ``query`` and write the records to ``out`` as JSONL; a failed run leaves ``out`` untouched."""
    report = IngestReport(path=str(out))
    client = client if client is not None else reddit_client(settings)
    records = list(fetch(query, client, report))
    if not report.subreddits:
        details = "; ".join(f"r/{name}: {why}" for name, why in report.unavailable.items())
        raise TravelbotError(f"None of the subreddits could be read ({details}): check the names in the query.")
    write_jsonl(Path(out), records)
    report.finished_at = utc_now()
    return report
