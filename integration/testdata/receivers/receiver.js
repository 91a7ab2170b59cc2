// A webhook receiver for the integration tests, on Node's http module
// (keep-alive, pipelined requests answered in order).
//
// Usage: node receiver.js SECRET. It listens on a free port of 127.0.0.1,
// prints the port, counts the records of every POST whose
// X-Sluice-Signature verifies, and answers GET with
// {"records": {key: deliveries}, "bad": unverified POSTs}.
const http = require('http');
const crypto = require('crypto');

const secret = process.argv[2];
const records = {};
let bad = 0;

const server = http.createServer((req, res) => {
  if (req.method === 'GET') {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ records, bad }));
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const sig = 'sha256=' + crypto.createHmac('sha256', secret).update(body).digest('hex');
    const got = req.headers['x-sluice-signature'] || '';
    if (sig.length !== got.length || !crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(got))) {
      bad++;
    } else {
      for (const r of JSON.parse(body).Records) {
        const key = r.s3.object.key;
        records[key] = (records[key] || 0) + 1;
      }
    }
    res.end();
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
