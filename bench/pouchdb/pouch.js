'use strict';
// The PouchDB build both peers use: pouchdb-core with the in-memory adapter
// (memdown, no native leveldown), the HTTP adapter, replication and map/reduce.
// This is what the `pouchdb` package bundles for Node, less LevelDB on disk.
const PouchDB = require('pouchdb-core')
  .plugin(require('pouchdb-adapter-memory'))
  .plugin(require('pouchdb-adapter-http'))
  .plugin(require('pouchdb-mapreduce'))
  .plugin(require('pouchdb-replication'));

module.exports = PouchDB;
