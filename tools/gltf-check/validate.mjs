// Validate glTF/GLB files with the Khronos glTF-Validator and print one JSON report.
//
// Usage: node validate.mjs FILE... (or --stdin-list to read file paths, one a line, from stdin)
// Output: {"files": [{"file", "errors", "warnings", "infos", "messages": [...]}]} on stdout.
// Exit code: 0 when no file has an error, 1 otherwise, 2 on usage errors.
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import validator from "gltf-validator";

async function paths() {
  const args = process.argv.slice(2);
  if (args[0] !== "--stdin-list") return args;
  const text = readFileSync(0, "utf8");
  return text.split("\n").map((s) => s.trim()).filter(Boolean);
}

async function validate(file) {
  const bytes = new Uint8Array(readFileSync(file));
  const report = await validator.validateBytes(bytes, {
    uri: file,
    format: extname(file).toLowerCase() === ".gltf" ? "gltf" : "glb",
    maxIssues: 50,
    externalResourceFunction: () => Promise.reject(new Error("external resources not allowed")),
  });
  const issues = report.issues;
  return {
    file,
    errors: issues.numErrors,
    warnings: issues.numWarnings,
    infos: issues.numInfos,
    // errors (0) and warnings (1) only: infos and hints are counted, not listed
    messages: issues.messages.filter((m) => m.severity <= 1).map((m) => ({
      code: m.code, severity: m.severity, message: m.message, pointer: m.pointer,
    })),
  };
}

const files = await paths();
if (files.length === 0) {
  process.stderr.write("usage: node validate.mjs FILE... | --stdin-list\n");
  process.exit(2);
}
const results = [];
for (const f of files) results.push(await validate(f));
// exitCode, not process.exit(): exiting at once would cut a long report written to a pipe
process.stdout.write(JSON.stringify({ files: results }) + "\n");
process.exitCode = results.some((r) => r.errors > 0) ? 1 : 0;
