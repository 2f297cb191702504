"""Reddit ingestion with real PRAW against a real HTTP server on loopback that answers with recorded API JSON.

The server speaks the slice of Reddit's API that ingestion uses: the client-credentials token endpoint
(HTTP basic auth), subreddit listings, comment pages and ``/api/morechildren``. Its answers are the
fixture files under ``fixtures/reddit/`` (Reddit's response shapes, written by hand); PRAW is pointed at
it through its ``oauth_url`` and ``reddit_url`` settings, which accept plain ``http://`` URLs.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("praw")

import prawcore.sessions  # noqa: E402

from tests.conftest import free_port  # noqa: E402
from travelbot.config import Settings  # noqa: E402
from travelbot.jsonl import read_jsonl  # noqa: E402
from travelbot.data.reddit import IngestReport, RedditQuery, fetch, ingest, reddit_client  # noqa: E402
from travelbot.errors import TravelbotError  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "reddit"
CLIENT_ID, CLIENT_SECRET = "tb-test-client", "tb-test-secret"
TOKEN = json.loads((FIXTURES / "access_token.json").read_text(encoding="utf-8"))["access_token"]
UNAVAILABLE = {  # subreddit -> (status, fixture) as Reddit answers for private and banned subreddits
    "privatetravelclub": (403, "error_forbidden_private.json"),
    "bannedtravel": (404, "error_not_found_banned.json"),
}
SERVER_ERROR_SUBREDDIT = "flakytravel"  # always answers 503
SETTINGS = Settings(reddit_client_id=CLIENT_ID, reddit_client_secret=CLIENT_SECRET)


class RedditHandler(BaseHTTPRequestHandler):
    server: "RedditServer"

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_POST(self):
        url = urlsplit(self.path)
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
        self.server.log.append({"method": "POST", "path": url.path, "form": form, "headers": dict(self.headers)})
        if url.path == "/api/v1/access_token":
            basic = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if self.headers.get("Authorization") != basic or form.get("grant_type") != ["client_credentials"]:
                return self._send(401, "error_unauthorized.json")
            return self._send(200, "access_token.json")
        if not self._authorized():
            return
        if url.path == "/api/morechildren/":
            payload = self._fixture(f"morechildren_{form['link_id'][0].removeprefix('t3_')}.json")
            wanted = set(form["children"][0].split(","))
            things = payload["json"]["data"]["things"]
            payload["json"]["data"]["things"] = [t for t in things if t["data"]["id"] in wanted]
            return self._send(200, payload=payload)
        self._send(404, "error_not_found_banned.json")

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.server.log.append({"method": "GET", "path": url.path, "query": query, "headers": dict(self.headers)})
        if not self._authorized():
            return
        if match := re.fullmatch(r"/r/(\w+)/(hot|top|new)/?", url.path):
            subreddit, listing = match.groups()
            if subreddit in UNAVAILABLE:
                return self._send(*UNAVAILABLE[subreddit])
            if subreddit == SERVER_ERROR_SUBREDDIT:
                return self._send(503, payload={"message": "Service Unavailable", "error": 503})
            if not (FIXTURES / f"listing_{subreddit}_{listing}.json").exists():  # Reddit's answer for no such name
                self.send_response(302)
                self.send_header("Location", f"/subreddits/search.json?q={subreddit}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            return self._send(200, f"listing_{subreddit}_{listing}.json")
        if (match := re.fullmatch(r"/comments/(\w+)/?", url.path)) and (
            FIXTURES / f"comments_{match.group(1)}.json"
        ).exists():
            return self._send(200, f"comments_{match.group(1)}.json")
        self._send(404, payload={"message": "Not Found", "error": 404})

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"bearer {TOKEN}":
            return True
        challenge = 'Bearer realm="reddit", error="invalid_token"'
        self._send(401, "error_unauthorized.json", extra={"www-authenticate": challenge})
        return False

    def _fixture(self, name: str):
        return json.loads((FIXTURES / name).read_text(encoding="utf-8"))

    def _send(self, status: int, name: str | None = None, payload=None, extra: dict | None = None):
        data = json.dumps(self._fixture(name) if name else payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        if status == 200 and self.path != "/api/v1/access_token":
            # Plenty of budget left, so prawcore's rate limiter never needs to wait.
            for header, value in (("x-ratelimit-used", "4"), ("x-ratelimit-remaining", "996"),
                                  ("x-ratelimit-reset", "300")):
                self.send_header(header, value)
        for header, value in (extra or {}).items():
            self.send_header(header, value)
        self.end_headers()
        self.wfile.write(data)


class RedditServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", free_port()), RedditHandler)
        self.log: list[dict] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def requests(self, method: str | None = None) -> list[tuple[str, str]]:
        return [(r["method"], r["path"]) for r in self.log if method in (None, r["method"])]


@pytest.fixture(scope="module")
def reddit_server():
    server = RedditServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def server(reddit_server, monkeypatch):
    reddit_server.log.clear()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    # prawcore retries connection errors and 5xx twice, sleeping up to 6 s in all; the retries still
    # happen here, without the back-off, so failure tests stay fast.
    monkeypatch.setattr(prawcore.sessions.FiniteRetryStrategy, "sleep", lambda self: None)
    return reddit_server


def client_for(server, settings: Settings = SETTINGS):
    return reddit_client(settings, oauth_url=server.url, reddit_url=server.url)


def assert_one_sentence(message: str) -> None:
    assert message.endswith(".") and "\n" not in message
    assert not re.search(r"[.!?]\s+[A-Z]", message[:-1]), message


EXPECTED_IDS = [
    "t3_17kyo01", "t1_k1a0001", "t1_k1a0009", "t1_k1a0002", "t1_k1a0003", "t1_k1a0005",
    "t3_17lis03", "t1_l1s0001", "t1_l1s0002", "t1_l1s0003",
    "t3_17rai04", "t1_r1a0001",
]
KYOTO_PERMALINK = "/r/travel/comments/17kyo01/best_time_of_year_to_visit_ky_to_without_the_crowd/"
EXPECTED_SKIPS = {"stickied": 1, "removed": 2, "deleted": 2, "bot": 3, "empty": 1}


def test_ingest_writes_filtered_deduplicated_records_with_provenance(server, tmp_path):
    out = tmp_path / "raw" / "reddit.jsonl"
    report = ingest(RedditQuery(subreddits=("travel", "solotravel")), out, client=client_for(server))

    records, load = read_jsonl(out)
    assert load.refused == 0
    assert [r["id"] for r in records] == EXPECTED_IDS
    assert (report.posts, report.comments, report.duplicates) == (3, 9, 1)
    assert report.skipped == EXPECTED_SKIPS
    assert report.subreddits == ["travel", "solotravel"] and report.unavailable == {}
    assert report.started_at <= report.finished_at and report.path == str(out)
    json.dumps(report.summary())

    by_id = {r["id"]: r for r in records}
    post = by_id["t3_17kyo01"]
    assert post["kind"] == "post" and post["title"].startswith("Best time of year to visit Kyōto")
    assert (post["post_id"], post["parent_id"], post["depth"]) == ("t3_17kyo01", None, 0)
    assert (post["author"], post["score"], post["num_comments"]) == ("sakura_wanderer", 2841, 11)
    assert post["created_utc"] == 1699000000.0
    assert post["permalink"] == f"https://www.reddit.com{KYOTO_PERMALINK}"
    assert post["source"]["type"] == "reddit" and post["source"]["listing"] == "top"
    assert post["source"]["time_filter"] == "year"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", post["source"]["retrieved_at"])

    nested = by_id["t1_k1a0003"]
    assert (nested["kind"], nested["post_id"], nested["parent_id"], nested["depth"]) == (
        "comment", "t3_17kyo01", "t1_k1a0002", 2)
    assert nested["title"] is None and nested["num_comments"] is None
    assert nested["body"] == "Yes, but go before 8 am. Tōfuku-ji is even better for leaves — skip the weekend."
    assert nested["permalink"] == f"https://www.reddit.com{KYOTO_PERMALINK}k1a0003/"
    # A reply to a deleted comment is kept and still points at it.
    assert (by_id["t1_k1a0005"]["parent_id"], by_id["t1_k1a0005"]["depth"]) == ("t1_k1a0004", 2)
    assert by_id["t1_k1a0001"]["depth"] == 0 and by_id["t1_k1a0001"]["parent_id"] == "t3_17kyo01"
    assert "紅葉" in by_id["t1_k1a0001"]["body"] and "€2.30" in by_id["t1_l1s0003"]["body"]
    assert "紅葉".encode() in out.read_bytes()  # written as UTF-8, not \u escapes
    # The post that appears in both listings is written once, under its own subreddit.
    assert by_id["t3_17lis03"]["subreddit"] == "solotravel"
    link = by_id["t3_17rai04"]
    assert link["body"] == "" and link["title"].startswith("The 2024 guide")
    assert {r["author"] for r in records}.isdisjoint({"AutoModerator", "RemindMeBot", "FlightDealsBot", None})

    # Comments are fetched once per kept thread; the duplicate, removed and stickied posts cost nothing.
    assert server.requests() == [
        ("POST", "/api/v1/access_token"),
        ("GET", "/r/travel/top"),
        ("GET", "/comments/17kyo01/"),
        ("GET", "/comments/17lis03/"),
        ("GET", "/comments/17rai04/"),
        ("GET", "/r/solotravel/top"),
    ]
    listing = server.log[1]
    assert listing["query"]["t"] == ["year"] and listing["query"]["limit"] == ["50"]
    assert listing["headers"]["User-Agent"].startswith("travelbot/0.1.0 (by u/unknown)")


def test_unavailable_subreddits_are_skipped_and_reported(server, tmp_path):
    query = RedditQuery(subreddits=("privatetravelclub", "travel", "bannedtravel", "nosuchtravelsub", "solotravel"))
    report = ingest(query, tmp_path / "reddit.jsonl", client=client_for(server))

    records, _ = read_jsonl(tmp_path / "reddit.jsonl")
    assert [r["id"] for r in records] == EXPECTED_IDS
    assert report.subreddits == ["travel", "solotravel"]
    assert report.skipped == {**EXPECTED_SKIPS, "subreddit_forbidden": 1, "subreddit_not_found": 2}
    assert set(report.unavailable) == {"privatetravelclub", "bannedtravel", "nosuchtravelsub"}


def test_no_readable_subreddit_is_an_error_and_writes_nothing(server, tmp_path):
    out = tmp_path / "reddit.jsonl"
    with pytest.raises(TravelbotError, match="None of the subreddits could be read") as info:
        ingest(RedditQuery(subreddits=("privatetravelclub", "bannedtravel")), out, client=client_for(server))
    assert_one_sentence(str(info.value))
    assert not out.exists()


def test_replace_more_expands_the_stub(server):
    records = list(fetch(RedditQuery(subreddits=("travel",), replace_more=1), client_for(server)))
    ids = [r["id"] for r in records]
    assert {"t1_k1a000b", "t1_k1a000c"} <= set(ids)
    assert ids.index("t1_k1a000b") > ids.index("t3_17kyo01")
    assert {r["depth"] for r in records if r["id"] in ("t1_k1a000b", "t1_k1a000c")} == {0}
    (more,) = [r for r in server.log if r["path"] == "/api/morechildren/"]
    assert more["form"]["link_id"] == ["t3_17kyo01"] and more["form"]["children"] == ["k1a000b,k1a000c"]


def test_comment_limit_keeps_the_best_comments_with_parents_first(server):
    report = IngestReport()
    records = list(fetch(RedditQuery(subreddits=("travel",), comment_limit=3), client_for(server), report))
    kyoto = [r["id"] for r in records if r["post_id"] == "t3_17kyo01" and r["kind"] == "comment"]
    assert kyoto == ["t1_k1a0001", "t1_k1a0009", "t1_k1a0002"]  # scores 120, 60, 40; order breadth-first
    assert report.skipped["over_limit"] == 2  # k1a0003 (35) and k1a0005 (8)
    seen: set[str] = set()
    for record in records:
        if record["kind"] == "comment" and record["parent_id"] != record["post_id"]:
            assert record["parent_id"] in seen or record["parent_id"] == "t1_k1a0004"
        seen.add(record["id"])


def test_hot_listing_has_no_time_filter(server):
    records = list(fetch(RedditQuery(subreddits=("travel",), listing="hot", comment_limit=0), client_for(server)))
    assert [r["id"] for r in records] == ["t3_17rai04", "t3_17kyo01"]  # the stickied megathread is skipped
    assert {r["source"]["time_filter"] for r in records} == {None}
    listing = next(r for r in server.log if r["path"] == "/r/travel/hot")
    assert "t" not in listing["query"]
    assert not any(path.startswith("/comments/") for _, path in server.requests())


def test_missing_credentials_name_the_variables(tmp_path):
    with pytest.raises(TravelbotError, match="REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET") as info:
        ingest(RedditQuery(), tmp_path / "reddit.jsonl", settings=Settings())
    assert "https://www.reddit.com/prefs/apps" in str(info.value)
    assert_one_sentence(str(info.value))
    with pytest.raises(TravelbotError, match="needs REDDIT_CLIENT_SECRET"):
        reddit_client(Settings(reddit_client_id="only-the-id"))


def test_unknown_endpoint_is_a_programming_error():
    with pytest.raises(TypeError, match="api_url"):
        reddit_client(SETTINGS, api_url="http://127.0.0.1:1")


def test_wrong_credentials_are_one_sentence(server, tmp_path):
    client = client_for(server, Settings(reddit_client_id=CLIENT_ID, reddit_client_secret="wrong-secret"))
    start = time.monotonic()
    with pytest.raises(TravelbotError, match=r"refused the credentials \(HTTP 401\)") as info:
        ingest(RedditQuery(subreddits=("travel",)), tmp_path / "reddit.jsonl", client=client)
    assert time.monotonic() - start < 5
    assert_one_sentence(str(info.value))
    assert server.requests() == [("POST", "/api/v1/access_token")]
    assert not (tmp_path / "reddit.jsonl").exists()


def test_server_down_is_one_sentence_and_fast(server, tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    client = reddit_client(SETTINGS, oauth_url=closed, reddit_url=closed)
    start = time.monotonic()
    with pytest.raises(TravelbotError, match=r"Could not reach Reddit \(ConnectionError\)") as info:
        ingest(RedditQuery(subreddits=("travel",)), tmp_path / "reddit.jsonl", client=client)
    assert time.monotonic() - start < 5
    assert_one_sentence(str(info.value))
    assert not (tmp_path / "reddit.jsonl").exists()


def test_server_error_is_retried_then_one_sentence(server, tmp_path):
    with pytest.raises(TravelbotError, match=r"server error \(HTTP 503\)") as info:
        ingest(RedditQuery(subreddits=(SERVER_ERROR_SUBREDDIT,)), tmp_path / "reddit.jsonl", client=client_for(server))
    assert_one_sentence(str(info.value))
    assert server.requests("GET") == [("GET", f"/r/{SERVER_ERROR_SUBREDDIT}/top")] * 3  # prawcore's two retries


def test_query_normalises_subreddit_names():
    query = RedditQuery(subreddits=["r/travel", "travel", " JapanTravel "])
    assert query.subreddits == ("travel", "JapanTravel")
    assert RedditQuery(subreddits="solotravel").subreddits == ("solotravel",)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"subreddits": ()}, "at least one subreddit"),
        ({"subreddits": ("travel", "not a sub")}, "'not a sub' is not a subreddit name"),
        ({"listing": "best"}, "listing must be one of hot, top, new"),
        ({"time_filter": "decade"}, "time_filter must be one of"),
        ({"limit": 0}, "limit must be a whole number from 1 to 1000"),
        ({"limit": True}, "limit must be a whole number"),
        ({"comment_limit": -1}, "comment_limit must be a whole number"),
        ({"replace_more": "2"}, "replace_more must be a whole number"),
    ],
)
def test_query_validation(kwargs, message):
    with pytest.raises(TravelbotError, match=re.escape(message)) as info:
        RedditQuery(**kwargs)
    assert_one_sentence(str(info.value))
