#!/usr/bin/env node
// A `solc` command-line stand-in backed by the npm `solc` package (solc compiled to wasm), for
// tools that expect a native solc binary (py-solc-x, slither, forge). It answers `--version` and
// `--standard-json` (JSON in on stdin, JSON out on stdout, nothing else on stdout), resolving
// imports from the base path and then from node_modules, never outside them. The flags --via-ir,
// --optimize, --optimize-runs and --evm-version, which some tools pass on the command line instead
// of in the JSON, are applied to the JSON settings, and so is $SOLC_SHIM_SETTINGS (a JSON object of
// settings) for tools that can pass neither (slither's standard-JSON mode).
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');

function parseArgs(argv) {
  const options = {
    version: false, standardJson: false, basePath: process.cwd(), includePaths: [], settings: {},
  };
  const withValue = new Set(['--base-path', '--include-path', '--allow-paths', '--output-dir']);
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const [flag, inlineValue] = arg.includes('=') ? arg.split(/=(.*)/s) : [arg, undefined];
    const value = () => (inlineValue !== undefined ? inlineValue : argv[++i]);
    if (flag === '--version') options.version = true;
    else if (flag === '--standard-json') options.standardJson = true;
    else if (flag === '--base-path') options.basePath = path.resolve(value());
    else if (flag === '--include-path') options.includePaths.push(path.resolve(value()));
    else if (flag === '--via-ir') options.settings.viaIR = true;
    else if (flag === '--optimize') options.settings.optimize = true;
    else if (flag === '--optimize-runs') options.settings.runs = Number(value());
    else if (flag === '--evm-version') options.settings.evmVersion = value();
    else if (withValue.has(flag)) value(); // accepted for compatibility; standard JSON carries settings
    else if (flag === '--overwrite' || flag === '-') continue;
    else {
      process.stderr.write(`unrecognised option '${arg}'\n`);
      process.exit(2);
    }
  }
  return options;
}

function importResolver(options) {
  const roots = [
    options.basePath,
    ...options.includePaths,
    path.join(options.basePath, 'node_modules'),
    path.resolve(__dirname, '..', 'node_modules'),
  ];
  return (importPath) => {
    for (const root of roots) {
      const candidate = path.resolve(root, importPath);
      const inside = candidate === root || candidate.startsWith(root + path.sep);
      if (inside && fs.existsSync(candidate) && fs.statSync(candidate).isFile()) {
        return { contents: fs.readFileSync(candidate, 'utf8') };
      }
    }
    return { error: `File not found: ${importPath} (looked in ${roots.join(', ')})` };
  };
}

function applyFlags(inputText, flags) {
  const extra = process.env.SOLC_SHIM_SETTINGS ? JSON.parse(process.env.SOLC_SHIM_SETTINGS) : {};
  if (Object.keys(flags).length === 0 && Object.keys(extra).length === 0) return inputText;
  const input = JSON.parse(inputText);
  input.settings = { ...(input.settings || {}), ...extra };
  if (flags.viaIR) input.settings.viaIR = true;
  if (flags.optimize || flags.runs !== undefined) {
    input.settings.optimizer = { ...(input.settings.optimizer || {}), enabled: true };
    if (flags.runs !== undefined) input.settings.optimizer.runs = flags.runs;
  }
  if (flags.evmVersion) input.settings.evmVersion = flags.evmVersion;
  return JSON.stringify(input);
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  if (options.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!options.standardJson) {
    process.stderr.write('only --version and --standard-json are supported\n');
    process.exit(2);
  }
  const input = applyFlags(fs.readFileSync(0, 'utf8'), options.settings);
  process.stdout.write(solc.compile(input, { import: importResolver(options) }));
}

main();
