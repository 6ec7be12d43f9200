"use strict";
var __create = Object.create;
var __defProp = Object.defineProperty;
var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __getProtoOf = Object.getPrototypeOf;
var __hasOwnProp = Object.prototype.hasOwnProperty;
var __copyProps = (to, from, except, desc) => {
  if (from && typeof from === "object" || typeof from === "function") {
    for (let key of __getOwnPropNames(from))
      if (!__hasOwnProp.call(to, key) && key !== except)
        __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
  }
  return to;
};
var __toESM = (mod, isNodeMode, target) => (target = mod != null ? __create(__getProtoOf(mod)) : {}, __copyProps(
  // If the importer is in node compatibility mode or this is not an ESM
  // file that has been converted to a CommonJS file using a Babel-
  // compatible transform (i.e. "__esModule" has not been set), then set
  // "default" to the CommonJS "module.exports" for node compatibility.
  isNodeMode || !mod || !mod.__esModule ? __defProp(target, "default", { value: mod, enumerable: true }) : target,
  mod
));

// src/post.ts
var import_node_fs3 = require("node:fs");

// node_modules/@actions/core/lib/command.js
var os = __toESM(require("os"));

// node_modules/@actions/core/lib/utils.js
function toCommandValue(input) {
  if (input === null || input === void 0) {
    return "";
  } else if (typeof input === "string" || input instanceof String) {
    return input;
  }
  return JSON.stringify(input);
}
function toCommandProperties(annotationProperties) {
  if (!Object.keys(annotationProperties).length) {
    return {};
  }
  return {
    title: annotationProperties.title,
    file: annotationProperties.file,
    line: annotationProperties.startLine,
    endLine: annotationProperties.endLine,
    col: annotationProperties.startColumn,
    endColumn: annotationProperties.endColumn
  };
}

// node_modules/@actions/core/lib/command.js
function issueCommand(command, properties, message) {
  const cmd = new Command(command, properties, message);
  process.stdout.write(cmd.toString() + os.EOL);
}
function issue(name, message = "") {
  issueCommand(name, {}, message);
}
var CMD_STRING = "::";
var Command = class {
  constructor(command, properties, message) {
    if (!command) {
      command = "missing.command";
    }
    this.command = command;
    this.properties = properties;
    this.message = message;
  }
  toString() {
    let cmdStr = CMD_STRING + this.command;
    if (this.properties && Object.keys(this.properties).length > 0) {
      cmdStr += " ";
      let first = true;
      for (const key in this.properties) {
        if (this.properties.hasOwnProperty(key)) {
          const val = this.properties[key];
          if (val) {
            if (first) {
              first = false;
            } else {
              cmdStr += ",";
            }
            cmdStr += `${key}=${escapeProperty(val)}`;
          }
        }
      }
    }
    cmdStr += `${CMD_STRING}${escapeData(this.message)}`;
    return cmdStr;
  }
};
function escapeData(s) {
  return toCommandValue(s).replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}
function escapeProperty(s) {
  return toCommandValue(s).replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A").replace(/:/g, "%3A").replace(/,/g, "%2C");
}

// node_modules/@actions/core/lib/core.js
var os2 = __toESM(require("os"));

// node_modules/@actions/core/lib/summary.js
var import_os = require("os");
var import_fs = require("fs");
var __awaiter = function(thisArg, _arguments, P, generator) {
  function adopt(value) {
    return value instanceof P ? value : new P(function(resolve) {
      resolve(value);
    });
  }
  return new (P || (P = Promise))(function(resolve, reject) {
    function fulfilled(value) {
      try {
        step(generator.next(value));
      } catch (e) {
        reject(e);
      }
    }
    function rejected(value) {
      try {
        step(generator["throw"](value));
      } catch (e) {
        reject(e);
      }
    }
    function step(result) {
      result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected);
    }
    step((generator = generator.apply(thisArg, _arguments || [])).next());
  });
};
var { access, appendFile, writeFile } = import_fs.promises;
var SUMMARY_ENV_VAR = "GITHUB_STEP_SUMMARY";
var Summary = class {
  constructor() {
    this._buffer = "";
  }
  /**
   * Finds the summary file path from the environment, rejects if env var is not found or file does not exist
   * Also checks r/w permissions.
   *
   * @returns step summary file path
   */
  filePath() {
    return __awaiter(this, void 0, void 0, function* () {
      if (this._filePath) {
        return this._filePath;
      }
      const pathFromEnv = process.env[SUMMARY_ENV_VAR];
      if (!pathFromEnv) {
        throw new Error(`Unable to find environment variable for $${SUMMARY_ENV_VAR}. Check if your runtime environment supports job summaries.`);
      }
      try {
        yield access(pathFromEnv, import_fs.constants.R_OK | import_fs.constants.W_OK);
      } catch (_a) {
        throw new Error(`Unable to access summary file: '${pathFromEnv}'. Check if the file has correct read/write permissions.`);
      }
      this._filePath = pathFromEnv;
      return this._filePath;
    });
  }
  /**
   * Wraps content in an HTML tag, adding any HTML attributes
   *
   * @param {string} tag HTML tag to wrap
   * @param {string | null} content content within the tag
   * @param {[attribute: string]: string} attrs key-value list of HTML attributes to add
   *
   * @returns {string} content wrapped in HTML element
   */
  wrap(tag, content, attrs = {}) {
    const htmlAttrs = Object.entries(attrs).map(([key, value]) => ` ${key}="${value}"`).join("");
    if (!content) {
      return `<${tag}${htmlAttrs}>`;
    }
    return `<${tag}${htmlAttrs}>${content}</${tag}>`;
  }
  /**
   * Writes text in the buffer to the summary buffer file and empties buffer. Will append by default.
   *
   * @param {SummaryWriteOptions} [options] (optional) options for write operation
   *
   * @returns {Promise<Summary>} summary instance
   */
  write(options) {
    return __awaiter(this, void 0, void 0, function* () {
      const overwrite = !!(options === null || options === void 0 ? void 0 : options.overwrite);
      const filePath = yield this.filePath();
      const writeFunc = overwrite ? writeFile : appendFile;
      yield writeFunc(filePath, this._buffer, { encoding: "utf8" });
      return this.emptyBuffer();
    });
  }
  /**
   * Clears the summary buffer and wipes the summary file
   *
   * @returns {Summary} summary instance
   */
  clear() {
    return __awaiter(this, void 0, void 0, function* () {
      return this.emptyBuffer().write({ overwrite: true });
    });
  }
  /**
   * Returns the current summary buffer as a string
   *
   * @returns {string} string of summary buffer
   */
  stringify() {
    return this._buffer;
  }
  /**
   * If the summary buffer is empty
   *
   * @returns {boolen} true if the buffer is empty
   */
  isEmptyBuffer() {
    return this._buffer.length === 0;
  }
  /**
   * Resets the summary buffer without writing to summary file
   *
   * @returns {Summary} summary instance
   */
  emptyBuffer() {
    this._buffer = "";
    return this;
  }
  /**
   * Adds raw text to the summary buffer
   *
   * @param {string} text content to add
   * @param {boolean} [addEOL=false] (optional) append an EOL to the raw text (default: false)
   *
   * @returns {Summary} summary instance
   */
  addRaw(text, addEOL = false) {
    this._buffer += text;
    return addEOL ? this.addEOL() : this;
  }
  /**
   * Adds the operating system-specific end-of-line marker to the buffer
   *
   * @returns {Summary} summary instance
   */
  addEOL() {
    return this.addRaw(import_os.EOL);
  }
  /**
   * Adds an HTML codeblock to the summary buffer
   *
   * @param {string} code content to render within fenced code block
   * @param {string} lang (optional) language to syntax highlight code
   *
   * @returns {Summary} summary instance
   */
  addCodeBlock(code, lang) {
    const attrs = Object.assign({}, lang && { lang });
    const element = this.wrap("pre", this.wrap("code", code), attrs);
    return this.addRaw(element).addEOL();
  }
  /**
   * Adds an HTML list to the summary buffer
   *
   * @param {string[]} items list of items to render
   * @param {boolean} [ordered=false] (optional) if the rendered list should be ordered or not (default: false)
   *
   * @returns {Summary} summary instance
   */
  addList(items, ordered = false) {
    const tag = ordered ? "ol" : "ul";
    const listItems = items.map((item) => this.wrap("li", item)).join("");
    const element = this.wrap(tag, listItems);
    return this.addRaw(element).addEOL();
  }
  /**
   * Adds an HTML table to the summary buffer
   *
   * @param {SummaryTableCell[]} rows table rows
   *
   * @returns {Summary} summary instance
   */
  addTable(rows) {
    const tableBody = rows.map((row) => {
      const cells = row.map((cell) => {
        if (typeof cell === "string") {
          return this.wrap("td", cell);
        }
        const { header, data, colspan, rowspan } = cell;
        const tag = header ? "th" : "td";
        const attrs = Object.assign(Object.assign({}, colspan && { colspan }), rowspan && { rowspan });
        return this.wrap(tag, data, attrs);
      }).join("");
      return this.wrap("tr", cells);
    }).join("");
    const element = this.wrap("table", tableBody);
    return this.addRaw(element).addEOL();
  }
  /**
   * Adds a collapsable HTML details element to the summary buffer
   *
   * @param {string} label text for the closed state
   * @param {string} content collapsable content
   *
   * @returns {Summary} summary instance
   */
  addDetails(label, content) {
    const element = this.wrap("details", this.wrap("summary", label) + content);
    return this.addRaw(element).addEOL();
  }
  /**
   * Adds an HTML image tag to the summary buffer
   *
   * @param {string} src path to the image you to embed
   * @param {string} alt text description of the image
   * @param {SummaryImageOptions} options (optional) addition image attributes
   *
   * @returns {Summary} summary instance
   */
  addImage(src, alt, options) {
    const { width, height } = options || {};
    const attrs = Object.assign(Object.assign({}, width && { width }), height && { height });
    const element = this.wrap("img", null, Object.assign({ src, alt }, attrs));
    return this.addRaw(element).addEOL();
  }
  /**
   * Adds an HTML section heading element
   *
   * @param {string} text heading text
   * @param {number | string} [level=1] (optional) the heading level, default: 1
   *
   * @returns {Summary} summary instance
   */
  addHeading(text, level) {
    const tag = `h${level}`;
    const allowedTag = ["h1", "h2", "h3", "h4", "h5", "h6"].includes(tag) ? tag : "h1";
    const element = this.wrap(allowedTag, text);
    return this.addRaw(element).addEOL();
  }
  /**
   * Adds an HTML thematic break (<hr>) to the summary buffer
   *
   * @returns {Summary} summary instance
   */
  addSeparator() {
    const element = this.wrap("hr", null);
    return this.addRaw(element).addEOL();
  }
  /**
   * Adds an HTML line break (<br>) to the summary buffer
   *
   * @returns {Summary} summary instance
   */
  addBreak() {
    const element = this.wrap("br", null);
    return this.addRaw(element).addEOL();
  }
  /**
   * Adds an HTML blockquote to the summary buffer
   *
   * @param {string} text quote text
   * @param {string} cite (optional) citation url
   *
   * @returns {Summary} summary instance
   */
  addQuote(text, cite) {
    const attrs = Object.assign({}, cite && { cite });
    const element = this.wrap("blockquote", text, attrs);
    return this.addRaw(element).addEOL();
  }
  /**
   * Adds an HTML anchor tag to the summary buffer
   *
   * @param {string} text link text/content
   * @param {string} href hyperlink
   *
   * @returns {Summary} summary instance
   */
  addLink(text, href) {
    const element = this.wrap("a", text, { href });
    return this.addRaw(element).addEOL();
  }
};
var _summary = new Summary();
var summary = _summary;

// node_modules/@actions/core/lib/core.js
var ExitCode;
(function(ExitCode2) {
  ExitCode2[ExitCode2["Success"] = 0] = "Success";
  ExitCode2[ExitCode2["Failure"] = 1] = "Failure";
})(ExitCode || (ExitCode = {}));
function setSecret(secret) {
  issueCommand("add-mask", {}, secret);
}
function setFailed(message) {
  process.exitCode = ExitCode.Failure;
  error(message);
}
function error(message, properties = {}) {
  issueCommand("error", toCommandProperties(properties), message instanceof Error ? message.toString() : message);
}
function warning(message, properties = {}) {
  issueCommand("warning", toCommandProperties(properties), message instanceof Error ? message.toString() : message);
}
function info(message) {
  process.stdout.write(message + os2.EOL);
}
function startGroup(name) {
  issue("group", name);
}
function endGroup() {
  issue("endgroup");
}
function getState(name) {
  return process.env[`STATE_${name}`] || "";
}

// src/agent/launch.ts
var import_node_child_process = require("node:child_process");
var import_node_fs2 = require("node:fs");

// src/errors.ts
var InputError = class extends Error {
  name = "InputError";
  /** The input, flag or environment variable at fault, as the user spells it where they gave it. */
  input;
  /**
   * `problem` reads after `label: ` (the action's "Input token_type", the CLI's "--token-type"), unless it is a sentence
   * that starts with the input's name itself.
   */
  constructor(input, problem, label = `Input ${input}`) {
    super(problem.startsWith(input) ? problem : `${label}: ${problem}`);
    this.input = input;
  }
};
var ApiError = class extends Error {
  name = "ApiError";
  what;
  failure;
  attempts;
  remedy;
  constructor(what, failure, attempts, remedy) {
    super(describeFailure(what, failure, attempts));
    this.what = what;
    this.failure = failure;
    this.attempts = attempts;
    this.remedy = remedy;
  }
};
var ActionError = class extends Error {
  name = "ActionError";
  remedy;
  constructor(message, remedy) {
    super(message);
    this.remedy = remedy;
  }
};
function describeFailure(what, failure, attempts) {
  const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
  if (failure.status === 0) return `${what} failed${tries}: ${failure.message}`;
  const code = failure.code ? ` ${failure.code}` : "";
  return `${what} failed${tries}: HTTP ${failure.status}${code}: ${failure.message}`;
}
function explain(error2) {
  if (error2 instanceof ApiError || error2 instanceof ActionError) {
    return error2.remedy ? `${error2.message}
${error2.remedy}` : error2.message;
  }
  if (error2 instanceof InputError) return error2.message;
  return `Unexpected error: ${messageOf(error2)}`;
}
function messageOf(error2) {
  return error2 instanceof Error ? error2.message : String(error2);
}

// src/json.ts
function parseJsonObject(text) {
  try {
    const value = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? value : void 0;
  } catch {
    return void 0;
  }
}

// src/http/transport.ts
var MAX_BODY_BYTES = 1 << 20;

// src/secrets.ts
var known = /* @__PURE__ */ new Set();
var mask = () => {
  throw new Error("no masker: the front door must call setMasker before any secret exists");
};
function setMasker(masker) {
  mask = masker;
}
function redact(text) {
  let out = text;
  for (const secret of [...known].sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join("***");
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) out = out.split(encoded).join("***");
  }
  return out;
}

// src/agent/token-file.ts
var import_node_fs = require("node:fs");
var import_node_path = require("node:path");
function removeTokenFile(path) {
  (0, import_node_fs.rmSync)(path, { force: true });
  const dir = (0, import_node_path.dirname)(path);
  if ((0, import_node_path.basename)(path) === "token" && (0, import_node_path.basename)(dir).startsWith("iap-token-")) (0, import_node_fs.rmSync)(dir, { recursive: true, force: true });
}

// src/agent/launch.ts
var STOP_TIMEOUT_MS = 1e4;
var STOP_POLL_MS = 100;
var RUN_FLAG = "--run";
function isRunningAgent(pid, run) {
  if (!Number.isInteger(pid) || pid <= 0 || !run) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const args = commandLine(pid);
  if (args === void 0) return true;
  return args.some((arg, i) => arg === RUN_FLAG && args[i + 1] === run);
}
function commandLine(pid) {
  if (process.platform === "win32") return void 0;
  try {
    if ((0, import_node_fs2.existsSync)("/proc/self/cmdline")) return (0, import_node_fs2.readFileSync)(`/proc/${pid}/cmdline`, "utf8").split("\0");
    const text = (0, import_node_child_process.execFileSync)("ps", ["-o", "command=", "-p", String(pid)], {
      encoding: "utf8",
      timeout: 5e3,
      stdio: ["ignore", "pipe", "ignore"]
    });
    return text.trim().split(/\s+/);
  } catch {
    return [];
  }
}
async function stopAgent(pid, run, warn) {
  if (!isRunningAgent(pid, run)) return;
  signal(pid, "SIGTERM");
  for (let waited = 0; waited < STOP_TIMEOUT_MS; waited += STOP_POLL_MS) {
    await new Promise((resolve) => setTimeout(resolve, STOP_POLL_MS));
    if (!isRunningAgent(pid, run)) return;
  }
  warn(`The token agent did not stop within ${STOP_TIMEOUT_MS / 1e3} s of SIGTERM; killing it.`);
  signal(pid, "SIGKILL");
}
function signal(pid, name) {
  try {
    process.kill(pid, name);
  } catch {
  }
}
function logTail(logFile, lines = 5) {
  try {
    const tail = (0, import_node_fs2.readFileSync)(logFile, "utf8").trim().split("\n").slice(-lines).join("\n");
    return tail ? `
The agent's last log lines:
${redact(tail)}` : "";
  } catch {
    return "";
  }
}

// src/log.ts
var BREAK = "​";
function sanitize(text) {
  return redact(text).split(/\r\n|\r|\n/).map((line) => line.replace(/^([\s\u0085]*)::/, `$1:${BREAK}:`).replaceAll("##[", `#${BREAK}#[`)).join("\n");
}
var log = {
  info: (text) => info(sanitize(text)),
  warning: (text) => warning(sanitize(text)),
  /** The step's one error: it fails the step. */
  fail: (text) => setFailed(sanitize(text)),
  group: (title, lines) => {
    startGroup(sanitize(title));
    for (const line of lines) info(sanitize(line));
    endGroup();
  }
};

// src/tokens/check.ts
var MAX_ACCESS_TOKEN_LIFE_MS = 12 * 36e5;

// src/publish.ts
async function writeAgentSummary(report, env) {
  if (!env["GITHUB_STEP_SUMMARY"]) return;
  const refusals = Object.entries(report.refusals).map(([kind, count]) => `${kind} ${String(count)}`).join(", ");
  try {
    await summary.addHeading("IAP token agent", 3).addTable([
      [
        { data: "Refreshes", header: true },
        { data: "Requests proxied", header: true },
        { data: "IAP refusals", header: true },
        { data: "Upstream errors", header: true },
        { data: "Failed mints", header: true }
      ],
      [
        String(report.refreshes),
        String(report.requests),
        escapeHtml(refusals || "none"),
        String(report.upstreamErrors),
        String(report.mintFailures)
      ]
    ]).write();
  } catch (error2) {
    log.warning(`Could not write the step summary: ${messageOf(error2)}`);
  }
}
function escapeHtml(text) {
  return text.replace(/[&<>"'[\]()!*_`|~\\#]/g, (char) => `&#${char.charCodeAt(0)};`).replace(/\r?\n|\r/g, "<br>");
}

// src/post.ts
async function post(env = process.env) {
  setMasker(setSecret);
  try {
    const state = parseJsonObject(getState("agent"));
    if (!state) return;
    const pid = Number(state["pid"]);
    const text = (name) => typeof state[name] === "string" ? state[name] : "";
    const [run, tokenFile, statsFile, logFile] = [text("run"), text("tokenFile"), text("statsFile"), text("logFile")];
    const wasRunning = isRunningAgent(pid, run);
    if (wasRunning) await stopAgent(pid, run, log.warning);
    const report = readReport(statsFile);
    const tail = logTail(logFile);
    showLog(logFile);
    if (tokenFile) removeTokenFile(tokenFile);
    if (report) await writeAgentSummary(report, env);
    if (report) {
      log.info(
        `Token agent: ${report.refreshes} refresh(es), ${report.requests} request(s) proxied, ${report.mintFailures} failed mint(s).`
      );
    }
    if (!wasRunning) {
      const why = report?.died ?? (report?.stoppedAt ? "it was stopped by a signal from outside the action" : "no reason was recorded");
      throw new ActionError(`The token agent stopped before the end of the job: ${why}.${tail}`);
    }
    if (report?.lastError) log.warning(`The token agent's last mint failed: ${report.lastError}`);
  } catch (error2) {
    log.fail(explain(error2));
  }
}
function showLog(path, most = 500) {
  let lines;
  try {
    lines = (0, import_node_fs3.readFileSync)(path, "utf8").trimEnd().split("\n");
  } catch {
    return;
  }
  log.group(`Token agent log (${lines.length} lines${lines.length > most ? `, the last ${most}` : ""})`, lines.slice(-most));
}
function readReport(path) {
  try {
    return parseJsonObject((0, import_node_fs3.readFileSync)(path, "utf8"));
  } catch {
    return void 0;
  }
}

// src/post-index.ts
void post().then(() => process.stdout.write("", () => process.stderr.write("", () => process.exit())));
