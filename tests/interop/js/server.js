// A Node `ws` server driven by tests/interop/test_node_ws.py.
//
// Usage: node server.js CONFIG_JSON, where CONFIG_JSON has fragmentsText (a list
// of strings) and fragmentsBinary (a list of base64 strings).
// It echoes every message and obeys the same commands as the tests' server:
//   "fragments?" sends the two fragmented messages of the configuration;
//   "close CODE REASON" sends "closing CODE", then closes with CODE and REASON.
// Events on stdout, one JSON object per line: listening (port), then per
// connection (by request path): connection (request headers, extensions), close.
"use strict";

const { WebSocketServer } = require("ws");

const config = JSON.parse(process.argv[2]);
const out = (event) => process.stdout.write(JSON.stringify(event) + "\n");

function sendFragments(ws, fragments, binary) {
  const last = fragments.length - 1;
  fragments.forEach((fragment, i) => ws.send(fragment, { binary, fin: i === last }));
}

const wss = new WebSocketServer({
  host: "127.0.0.1",
  port: 0,
  perMessageDeflate: true, // off by default on ws servers
  maxPayload: 4 * 1024 * 1024,
});
wss.on("listening", () => out({ event: "listening", port: wss.address().port }));
wss.on("connection", (ws, request) => {
  const path = request.url;
  out({ event: "connection", path, headers: request.headers, extensions: ws.extensions });
  ws.on("message", (data, isBinary) => {
    const text = isBinary ? null : data.toString("utf8");
    const close = text === null ? null : /^close (\d+) (.*)$/s.exec(text);
    if (text === "fragments?") {
      sendFragments(ws, config.fragmentsText, false);
      sendFragments(ws, config.fragmentsBinary.map((b64) => Buffer.from(b64, "base64")), true);
    } else if (close !== null) {
      ws.send(`closing ${close[1]}`);
      ws.close(Number(close[1]), close[2]);
    } else {
      ws.send(data, { binary: isBinary });
    }
  });
  ws.on("close", (code, reason) => out({ event: "close", path, code, reason: reason.toString() }));
  ws.on("error", (error) => out({ event: "error", path, message: error.message }));
});

// The tests are done with us when they close our stdin.
process.stdin.resume();
process.stdin.on("end", () => {
  for (const ws of wss.clients) ws.terminate();
  wss.close();
});
