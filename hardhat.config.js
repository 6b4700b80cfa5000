// Hardhat 3 compiles the same contracts with the same npm solc (wasm) as deploy/compile.py, fully
// offline (no compiler download), and runs the Solidity tests in tests/hardhat/.
// Run with Node 22 from node_modules/.bin (make hardhat-test does).
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const solcVersion = require("solc/package.json").version;

export default {
  solidity: {
    version: solcVersion,
    path: require.resolve("solc/soljson.js"),
    settings: {
      optimizer: { enabled: true, runs: 1000 },
      viaIR: true,
      evmVersion: "cancun",
    },
  },
  paths: {
    sources: "contracts",
    tests: { solidity: "tests/hardhat" },
    cache: "cache-hardhat",
    artifacts: "artifacts-hardhat",
  },
};
