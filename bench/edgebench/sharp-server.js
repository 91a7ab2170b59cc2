'use strict';
// The peer of sluice's built-in sluice-image-resize in bench/edgebench: a
// small Node HTTP server doing what the familiar Lambda@Edge resize recipe
// does after its S3 GET, with sharp (the library that recipe uses):
//
//   GET /<file>?d=WxH  ->  sharp(original).resize(W, H).jpeg({quality}) -> 200 image/jpeg
//
// resize(W, H) with both sides is a cover crop (sharp's default fit), a
// missing side keeps the aspect ratio, as `d` does in sluice. Originals are
// read from local disk (--dir) on every request: the fair equivalent of
// sluice reading its store in-process, without charging sharp an HTTP hop.
// sharp runs with its defaults (libvips threads per image = cores, its
// operation cache on, libuv's 4 pool threads = 4 images at once), which is
// what users of the recipe get. GET /_health reports the versions.
//
//   NODE_PATH=.bench/sharp/node_modules node sharp-server.js --addr 127.0.0.1:PORT --dir DIR [--quality 80]

const http = require('http');
const fs = require('fs/promises');
const path = require('path');
const sharp = require('sharp');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const addr = arg('--addr', '127.0.0.1:8090');
const dir = path.resolve(arg('--dir', '.'));
const quality = Number(arg('--quality', '80'));
const MAX_SIDE = 8192;

function reply(res, status, type, body) {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

// parseD reads d=WxH, d=Wx or d=xH; null when malformed.
function parseD(d) {
  const m = /^(\d*)x(\d*)$/.exec(d || '');
  if (!m || (m[1] === '' && m[2] === '')) return null;
  const w = m[1] === '' ? null : Number(m[1]);
  const h = m[2] === '' ? null : Number(m[2]);
  for (const v of [w, h]) if (v !== null && (v < 1 || v > MAX_SIDE)) return null;
  return { w, h };
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/_health') {
    return reply(res, 200, 'application/json', JSON.stringify({
      node: process.versions.node,
      sharp: sharp.versions.sharp,
      vips: sharp.versions.vips,
      concurrency: sharp.concurrency(),
      threadpool: Number(process.env.UV_THREADPOOL_SIZE || 4),
    }));
  }
  if (req.method !== 'GET') return reply(res, 405, 'text/plain', 'method not allowed\n');
  const name = decodeURIComponent(url.pathname.slice(1));
  if (name === '' || name.includes('/') || name.includes('\\') || name.startsWith('.')) {
    return reply(res, 404, 'text/plain', 'not found\n');
  }
  let original;
  try {
    original = await fs.readFile(path.join(dir, name));
  } catch (err) {
    return reply(res, err.code === 'ENOENT' ? 404 : 500, 'text/plain', `${err.code || err.message}\n`);
  }
  let body = original;
  if (url.searchParams.has('d')) {
    const d = parseD(url.searchParams.get('d'));
    if (!d) return reply(res, 400, 'text/plain', 'bad d: want WxH, Wx or xH\n');
    body = await sharp(original).resize(d.w, d.h).jpeg({ quality }).toBuffer();
  }
  res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': body.length });
  res.end(body);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    if (!res.headersSent) reply(res, 500, 'text/plain', `${err.message}\n`);
    else res.destroy(err);
  });
});
// The bench keeps its connections open across slices; Node's default 5 s
// idle timeout would close them between turns.
server.keepAliveTimeout = 0;
server.headersTimeout = 0;
server.requestTimeout = 0;

const i = addr.lastIndexOf(':');
server.listen(Number(addr.slice(i + 1)), addr.slice(0, i), () => {
  console.log(`sharp-server on ${addr}, originals from ${dir}, sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
