#!/usr/bin/env node
'use strict';
// A CouchDB-protocol server: express-pouchdb over in-memory PouchDB databases.
//
//   node server.js [PORT]      (or PORT in the environment; 0 or nothing = any free port)
//
// Responses over 1 KB are gzipped when the client accepts it (express-pouchdb's
// default; PouchDB in Node asks for gzip); ZOUFANG_POUCH_GZIP=0 serves them plain,
// as CouchDB itself does without a compressing proxy in front.
//
// Listens on 127.0.0.1 and prints `listening PORT` on stdout once it accepts
// connections. Nothing is written to disk. It stops on SIGTERM/SIGINT or when
// its standard input closes (so it dies with the process that started it).
const express = require('express');
const PouchDB = require('./pouch');

const MemPouch = PouchDB.defaults({ adapter: 'memory' });

const app = express();
app.use('/', require('express-pouchdb')(MemPouch, {
  // The routes PouchDB replication uses, no config/log files, no Fauxton.
  mode: 'minimumForPouchDB',
  inMemoryConfig: true,
  overrideMode: { exclude: process.env.ZOUFANG_POUCH_GZIP === '0' ? ['compression'] : [] },
}));

const arg = process.argv[2] !== undefined ? process.argv[2] : process.env.PORT;
const port = arg === undefined || arg === '' ? 0 : Number(arg);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`server.js: bad port ${JSON.stringify(arg)}`);
  process.exit(2);
}

const server = app.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
server.on('error', (err) => {
  console.error(`server.js: ${err.message}`);
  process.exit(1);
});

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (!process.stdin.isTTY) {
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}
