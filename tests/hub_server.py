"""A Hugging Face Hub on loopback, speaking the part of its HTTP API that ``huggingface_hub`` uses to
create a repo, read a dataset's info and upload a folder (create, validate-yaml, preupload, commit with
inline base64 files).

Point ``HfApi(endpoint=hub.url, token=...)`` at it; ``hub.repos[(type, id)]`` holds what was pushed.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml


@dataclass
class Repo:
    options: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)

    @property
    def private(self) -> bool:
        """As the Hub decides: private only when asked (a repo is public by default)."""
        return self.options.get("private") is True or self.options.get("visibility") == "private"


class HubServer:
    def __init__(self, token: str = "hf_test") -> None:
        self.token = token
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail_next: int | None = None  # answer the next request with this HTTP status
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, body: dict[str, Any], error_code: str | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if error_code:  # huggingface_hub picks its exception by this header
                    self.send_header("X-Error-Code", error_code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                hub.requests.append(("GET", self.path))
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[:2] == ["api", "datasets"] and len(parts) in (4, 6):  # dataset info, optionally at a revision
                    repo_id = f"{parts[2]}/{parts[3]}"
                    repo = hub.repos.get(("dataset", repo_id))
                    if repo is not None:
                        return self.reply(200, {"id": repo_id, "private": repo.private, "sha": f"{len(repo.commits):040x}"})
                self.reply(404, {"error": "Repository Not Found"}, error_code="RepoNotFound")

            def do_POST(self) -> None:  # noqa: N802
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hub.requests.append(("POST", self.path))
                if hub.fail_next is not None:
                    status, hub.fail_next = hub.fail_next, None
                    return self.reply(status, {"error": "injected failure"})
                if self.headers.get("Authorization") != f"Bearer {hub.token}":
                    return self.reply(401, {"error": "Invalid credentials in Authorization header"})
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[:3] == ["api", "repos", "create"]:
                    return self.create(json.loads(data))
                if parts[:2] == ["api", "validate-yaml"]:
                    return self.validate(json.loads(data)["content"])
                if len(parts) >= 6 and parts[4] in ("preupload", "commit"):
                    repo = hub.repos.get((parts[1].removesuffix("s"), f"{parts[2]}/{parts[3]}"))
                    if repo is None:
                        return self.reply(404, {"error": "Repository Not Found"})
                    if parts[4] == "preupload":
                        return self.preupload(json.loads(data))
                    return self.commit(repo, data, f"{hub.url}/{parts[1]}/{parts[2]}/{parts[3]}")
                self.reply(404, {"error": f"no route {self.path}"})

            def create(self, body: dict[str, Any]) -> None:
                name = body["name"] if "/" in body["name"] else f"{body.get('organization') or 'me'}/{body['name']}"
                kind = body.get("type") or "model"
                hub.repos.setdefault((kind, name), Repo(body))
                self.reply(200, {"url": f"{hub.url}/{kind}s/{name}", "name": name})

            def validate(self, content: str) -> None:
                try:
                    front = yaml.safe_load(content.split("---")[1])
                    errors = [] if isinstance(front, dict) else [{"message": "metadata is not a mapping"}]
                except (yaml.YAMLError, IndexError) as exc:
                    errors = [{"message": str(exc)}]
                self.reply(400 if errors else 200, {"errors": errors, "warnings": []})

            def preupload(self, body: dict[str, Any]) -> None:
                files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in body["files"]]
                self.reply(200, {"files": files})

            def commit(self, repo: Repo, data: bytes, repo_url: str) -> None:
                for line in data.decode().splitlines():
                    item = json.loads(line)
                    if item["key"] == "header":
                        repo.commits.append(item["value"]["summary"])
                    elif item["key"] == "file":
                        repo.files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                oid = f"{len(repo.commits):040x}"
                self.reply(200, {"commitUrl": f"{repo_url}/commit/{oid}", "commitOid": oid, "pullRequestUrl": None})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "HubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
