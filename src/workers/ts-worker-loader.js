/*
 * Only when the service runs from its TypeScript sources (jest, `node -r ts-register`): a
 * worker thread does not inherit the parent's require hooks, so the media worker's entry
 * (`media-worker.ts`) is loaded through this file, which transpiles each .ts file on require
 * with the project's compiler options (no type checking) and keeps the output in a cache
 * under the OS temp dir keyed by the file's content, so that the tests' many workers do not
 * each transpile the sources again. The built package (dist/) loads media-worker.js and never
 * this file.
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { workerData } = require('node:worker_threads');
const ts = require('typescript');

const root = path.join(__dirname, '..', '..');
const configPath = path.join(root, 'tsconfig.json');
const { config } = ts.readConfigFile(configPath, ts.sys.readFile);
const { options } = ts.convertCompilerOptionsFromJson(config.compilerOptions, root);
const compilerOptions = { ...options, sourceMap: false, inlineSourceMap: true, declaration: false, noEmit: false };
const cacheDir = path.join(os.tmpdir(), `webrtc-oneway-ts-cache-${ts.version}`);
fs.mkdirSync(cacheDir, { recursive: true });

require.extensions['.ts'] = function (module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const key = crypto.createHash('sha1').update(filename).update('\0').update(source).digest('hex');
  const cached = path.join(cacheDir, `${key}.js`);
  let output;
  try {
    output = fs.readFileSync(cached, 'utf8');
  } catch {
    output = ts.transpileModule(source, { compilerOptions, fileName: filename }).outputText;
    const tmp = `${cached}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    fs.writeFileSync(tmp, output);
    fs.renameSync(tmp, cached);
  }
  module._compile(output, filename);
};

require(workerData.entry);
