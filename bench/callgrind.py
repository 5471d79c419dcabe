#!/usr/bin/env python3
"""Server instructions per request, counted by callgrind: repeatable whatever else the
machine is doing, so two builds can be compared exactly (wall-clock figures on a shared
2-core machine vary by 10-30% from run to run).

Usage, after a bench run has seeded the database `delightchat_bench`:

    python3 bench/callgrind.py ./target/release/delightchat-bench inbox conversation replies

The bench binary is started as the server (`--serve`) under `valgrind --tool=callgrind`
against the bench database, warmed up, then for each kind the counters are zeroed, 20
requests are made by an org admin one after another, and the instructions counted are
divided by 20. `replies` counts `sendMessage` until SENT, against a fake Graph API
started here, and includes the outbound worker's share. Background workers keep running,
so expect about 1% of noise from their polling.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

PORT, GRAPH_PORT, REQUESTS = 18181, 18282, 20
JWT_SECRET = b"delightchat-bench-jwt-secret-0123456789"
ENV = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/delightchat_bench",
    "JWT_SECRET": JWT_SECRET.decode(),
    "SECRET_KEY": "64656c69676874636861742062656e63686d61726b206b657920313233343536",
    "BIND_ADDR": f"127.0.0.1:{PORT}",
    "GRAPH_API_BASE_URL": f"http://127.0.0.1:{GRAPH_PORT}",
    "MEDIA_DIR": os.path.join(tempfile.gettempdir(), "delightchat-callgrind-media"),
    "RUST_LOG": "warn",
}
INBOX = """query($o: ID!) { org(id: $o) { tickets(first: 50) { edges { cursor node { id status
  priority lastMessageAt lastMessagePreview unreadCount customer { id name identities { platform
  username } } channel { id name platform } lastMessage { id text direction createdAt } } }
  pageInfo { hasNextPage endCursor } } } }"""
CONVERSATION = """query($o: ID!, $t: ID!) { org(id: $o) { ticket(id: $t) { id status customer { name }
  messages(last: 50) { edges { node { id direction kind text status createdAt attachments { type url }
  reactions { emoji } author { type } } } pageInfo { hasPreviousPage startCursor } } } } }"""
SEND = """mutation($o: ID!, $t: ID!, $i: SendMessageInput!) {
  sendMessage(orgId: $o, ticketId: $t, input: $i) { id } }"""


def sql(query):
    return subprocess.check_output(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "delightchat_bench", "-Atc", query]
    ).decode().strip()


def token(user):
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": "v1"}).encode())
    claims = {"sub": user, "iss": "delightchat", "aud": "delightchat-api", "iat": now, "exp": now + 3600}
    payload = b64(json.dumps(claims).encode())
    signature = b64(hmac.new(JWT_SECRET, header + b"." + payload, hashlib.sha256).digest())
    return (header + b"." + payload + b"." + signature).decode()


class FakeGraph(http.server.BaseHTTPRequestHandler):
    """Answers every send with a fresh message id."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        mid = "mid.callgrind." + uuid.uuid4().hex
        body = json.dumps({"recipient_id": "r", "message_id": mid, "messages": [{"id": mid}]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    binary, kinds = sys.argv[1], sys.argv[2:] or ["inbox", "conversation", "replies"]
    user, org = sql("SELECT user_id, org_id FROM memberships WHERE role = 'ADMIN' ORDER BY org_id LIMIT 1").split("|")
    # A direct Instagram ticket with the reply window open for `replies`, and for
    # `conversation` the org's ticket with the most messages among the others.
    window = sql(
        f"SELECT t.id FROM tickets t JOIN channels c ON c.id = t.channel_id WHERE t.org_id = '{org}' "
        "AND t.kind = 'DIRECT' AND c.platform = 'INSTAGRAM' AND t.last_inbound_at > now() - interval '20 hours' "
        "ORDER BY t.id LIMIT 1"
    )
    ticket = sql(
        f"SELECT ticket_id FROM messages WHERE org_id = '{org}' AND ticket_id <> '{window}' "
        "GROUP BY ticket_id ORDER BY count(*) DESC, ticket_id LIMIT 1"
    )
    bearer = token(user)

    def post(document, variables):
        body = json.dumps({"query": document, "variables": variables}).encode()
        headers = {"content-type": "application/json", "authorization": "Bearer " + bearer}
        request = urllib.request.Request(f"http://127.0.0.1:{PORT}/graphql", data=body, headers=headers)
        answer = json.loads(urllib.request.urlopen(request).read())
        assert "errors" not in answer, answer
        return answer["data"]

    def replies(n):
        ids = [
            post(SEND, {"o": org, "t": window, "i": {"text": f"callgrind {k}", "clientMessageId": uuid.uuid4().hex}})["sendMessage"]["id"]
            for k in range(n)
        ]
        listed = ",".join(f"'{i}'" for i in ids)
        while sql(f"SELECT count(*) FROM messages WHERE id IN ({listed}) AND status = 'SENT'") != str(n):
            time.sleep(0.1)

    work = {
        "inbox": lambda n: [post(INBOX, {"o": org}) for _ in range(n)],
        "conversation": lambda n: [post(CONVERSATION, {"o": org, "t": ticket}) for _ in range(n)],
        "replies": replies,
    }
    graph = http.server.ThreadingHTTPServer(("127.0.0.1", GRAPH_PORT), FakeGraph)
    threading.Thread(target=graph.serve_forever, daemon=True).start()
    out = tempfile.mkdtemp(prefix="callgrind-")
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.%p", binary, "--serve"],
        env={**os.environ, **ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/readyz")
                break
            except OSError:
                time.sleep(1)
        for kind in kinds:
            work[kind](3)
        for kind in kinds:
            subprocess.run(["callgrind_control", "-z", str(server.pid)], check=True, capture_output=True)
            work[kind](REQUESTS)
            subprocess.run(["callgrind_control", "-d", kind, str(server.pid)], check=True, capture_output=True)
            dump = max((os.path.join(out, f) for f in os.listdir(out)), key=os.path.getmtime)
            with open(dump) as f:
                total = next(int(line.split()[1]) for line in f if line.startswith("summary:"))
            print(f"{kind}: {total / REQUESTS / 1e6:.2f}M instructions per request ({dump})")
    finally:
        server.terminate()
        server.wait()
        graph.shutdown()


if __name__ == "__main__":
    main()
