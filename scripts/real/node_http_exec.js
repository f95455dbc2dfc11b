// A Node.js (libuv) program of the shape issue 13 describes: an http server with
// fs reads and child_process.exec, measured by scripts/served-share.sh. It serves
// itself: ROUNDS rounds of an fs.readFile (libuv's thread pool, which wakes the
// loop through an eventfd), an http GET to its own server (TCP: the kernel's), and
// every EXEC_EVERY rounds a child_process.exec('echo ...') (pipes to the child).
// Every reply is checked; the program exits 1 on a wrong one, 0 after
// "node_http_exec: N rounds ok".
'use strict';
const http = require('http');
const fs = require('fs');
const { exec } = require('child_process');

const ROUNDS = Number(process.argv[2] || 400);
const EXEC_EVERY = Number(process.argv[3] || 40);
const self = fs.readFileSync(__filename);

function fail(what) {
  console.error(`node_http_exec: ${what}`);
  process.exit(1);
}

const server = http.createServer((req, res) => {
  res.end(`pong ${req.url}`);
});

function get(path) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: server.address().port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

function run(cmd) {
  return new Promise((resolve, reject) => {
    exec(cmd, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

async function main() {
  for (let i = 0; i < ROUNDS; i++) {
    const data = await fs.promises.readFile(__filename);
    if (!data.equals(self)) fail(`round ${i}: readFile differs`);
    const body = await get(`/r${i}`);
    if (body !== `pong /r${i}`) fail(`round ${i}: reply ${JSON.stringify(body)}`);
    if (i % EXEC_EVERY === EXEC_EVERY - 1) {
      const out = await run(`echo exec ${i}`);
      if (out !== `exec ${i}\n`) fail(`round ${i}: exec printed ${JSON.stringify(out)}`);
    }
  }
  console.log(`node_http_exec: ${ROUNDS} rounds ok`);
  server.close(() => process.exit(0));
}

server.listen(0, '127.0.0.1', () => {
  main().catch((e) => fail(String(e)));
});
