// A Node `ws` client driven by tests/interop/test_node_ws.py.
//
// Usage: node client.js URL
// Commands, one JSON object per line on stdin:
//   {"op": "send", "text": "..."} or {"op": "send", "b64": "..."}
//   {"op": "send_fragments", "binary": bool, "fragments": [{"text"|"b64": ...}, ...]}
//   {"op": "close", "code": 4000, "reason": "..."}
// Events, one JSON object per line on stdout: upgrade (response headers), open
// (negotiated extensions), message, close (code, reason), error.
"use strict";

const readline = require("readline");
const WebSocket = require("ws");

const out = (event) => process.stdout.write(JSON.stringify(event) + "\n");
const decode = (data) => (data.b64 !== undefined ? Buffer.from(data.b64, "base64") : data.text);
const encode = (data, isBinary) =>
  isBinary ? { b64: data.toString("base64") } : { text: data.toString("utf8") };

const ws = new WebSocket(process.argv[2], {
  perMessageDeflate: true, // offered by default; explicit, since the tests rely on it
  maxPayload: 4 * 1024 * 1024,
});
ws.on("upgrade", (response) => out({ event: "upgrade", headers: response.headers }));
ws.on("open", () => out({ event: "open", extensions: ws.extensions }));
ws.on("message", (data, isBinary) => out({ event: "message", ...encode(data, isBinary) }));
ws.on("close", (code, reason) => out({ event: "close", code, reason: reason.toString() }));
ws.on("error", (error) => out({ event: "error", message: error.message }));

const commands = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
commands.on("line", (line) => {
  const command = JSON.parse(line);
  if (command.op === "send") {
    ws.send(decode(command), { binary: command.b64 !== undefined });
  } else if (command.op === "send_fragments") {
    const last = command.fragments.length - 1;
    command.fragments.forEach((fragment, i) => {
      ws.send(decode(fragment), { binary: command.binary, fin: i === last });
    });
  } else if (command.op === "close") {
    ws.close(command.code, command.reason);
  } else {
    out({ event: "error", message: `unknown command ${line}` });
  }
});
// The test is done with us: leave without waiting for the network.
commands.on("close", () => ws.terminate());
