"use strict";
var __create = Object.create;
var __defProp = Object.defineProperty;
var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __getProtoOf = Object.getPrototypeOf;
var __hasOwnProp = Object.prototype.hasOwnProperty;
var __esm = (fn, res, err) => function __init() {
  if (err) throw err[0];
  try {
    return fn && (res = (0, fn[__getOwnPropNames(fn)[0]])(fn = 0)), res;
  } catch (e) {
    throw err = [e], e;
  }
};
var __commonJS = (cb, mod) => function __require() {
  try {
    return mod || (0, cb[__getOwnPropNames(cb)[0]])((mod = { exports: {} }).exports, mod), mod.exports;
  } catch (e) {
    throw mod = 0, e;
  }
};
var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};
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

// node_modules/@actions/http-client/lib/proxy.js
function getProxyUrl(reqUrl) {
  const usingSsl = reqUrl.protocol === "https:";
  if (checkBypass(reqUrl)) {
    return void 0;
  }
  const proxyVar = (() => {
    if (usingSsl) {
      return process.env["https_proxy"] || process.env["HTTPS_PROXY"];
    } else {
      return process.env["http_proxy"] || process.env["HTTP_PROXY"];
    }
  })();
  if (proxyVar) {
    try {
      return new DecodedURL(proxyVar);
    } catch (_a) {
      if (!proxyVar.startsWith("http://") && !proxyVar.startsWith("https://"))
        return new DecodedURL(`http://${proxyVar}`);
    }
  } else {
    return void 0;
  }
}
function checkBypass(reqUrl) {
  if (!reqUrl.hostname) {
    return false;
  }
  const reqHost = reqUrl.hostname;
  if (isLoopbackAddress(reqHost)) {
    return true;
  }
  const noProxy = process.env["no_proxy"] || process.env["NO_PROXY"] || "";
  if (!noProxy) {
    return false;
  }
  let reqPort;
  if (reqUrl.port) {
    reqPort = Number(reqUrl.port);
  } else if (reqUrl.protocol === "http:") {
    reqPort = 80;
  } else if (reqUrl.protocol === "https:") {
    reqPort = 443;
  }
  const upperReqHosts = [reqUrl.hostname.toUpperCase()];
  if (typeof reqPort === "number") {
    upperReqHosts.push(`${upperReqHosts[0]}:${reqPort}`);
  }
  for (const upperNoProxyItem of noProxy.split(",").map((x) => x.trim().toUpperCase()).filter((x) => x)) {
    if (upperNoProxyItem === "*" || upperReqHosts.some((x) => x === upperNoProxyItem || x.endsWith(`.${upperNoProxyItem}`) || upperNoProxyItem.startsWith(".") && x.endsWith(`${upperNoProxyItem}`))) {
      return true;
    }
  }
  return false;
}
function isLoopbackAddress(host) {
  const hostLower = host.toLowerCase();
  return hostLower === "localhost" || hostLower.startsWith("127.") || hostLower.startsWith("[::1]") || hostLower.startsWith("[0:0:0:0:0:0:0:1]");
}
var DecodedURL;
var init_proxy = __esm({
  "node_modules/@actions/http-client/lib/proxy.js"() {
    DecodedURL = class extends URL {
      constructor(url, base) {
        super(url, base);
        this._decodedUsername = decodeURIComponent(super.username);
        this._decodedPassword = decodeURIComponent(super.password);
      }
      get username() {
        return this._decodedUsername;
      }
      get password() {
        return this._decodedPassword;
      }
    };
  }
});

// node_modules/tunnel/lib/tunnel.js
var require_tunnel = __commonJS({
  "node_modules/tunnel/lib/tunnel.js"(exports2) {
    "use strict";
    var net = require("net");
    var tls = require("tls");
    var http2 = require("http");
    var https2 = require("https");
    var events = require("events");
    var assert = require("assert");
    var util = require("util");
    exports2.httpOverHttp = httpOverHttp2;
    exports2.httpsOverHttp = httpsOverHttp2;
    exports2.httpOverHttps = httpOverHttps2;
    exports2.httpsOverHttps = httpsOverHttps2;
    function httpOverHttp2(options) {
      var agent = new TunnelingAgent(options);
      agent.request = http2.request;
      return agent;
    }
    function httpsOverHttp2(options) {
      var agent = new TunnelingAgent(options);
      agent.request = http2.request;
      agent.createSocket = createSecureSocket;
      agent.defaultPort = 443;
      return agent;
    }
    function httpOverHttps2(options) {
      var agent = new TunnelingAgent(options);
      agent.request = https2.request;
      return agent;
    }
    function httpsOverHttps2(options) {
      var agent = new TunnelingAgent(options);
      agent.request = https2.request;
      agent.createSocket = createSecureSocket;
      agent.defaultPort = 443;
      return agent;
    }
    function TunnelingAgent(options) {
      var self = this;
      self.options = options || {};
      self.proxyOptions = self.options.proxy || {};
      self.maxSockets = self.options.maxSockets || http2.Agent.defaultMaxSockets;
      self.requests = [];
      self.sockets = [];
      self.on("free", function onFree(socket, host, port, localAddress) {
        var options2 = toOptions(host, port, localAddress);
        for (var i = 0, len = self.requests.length; i < len; ++i) {
          var pending = self.requests[i];
          if (pending.host === options2.host && pending.port === options2.port) {
            self.requests.splice(i, 1);
            pending.request.onSocket(socket);
            return;
          }
        }
        socket.destroy();
        self.removeSocket(socket);
      });
    }
    util.inherits(TunnelingAgent, events.EventEmitter);
    TunnelingAgent.prototype.addRequest = function addRequest(req, host, port, localAddress) {
      var self = this;
      var options = mergeOptions({ request: req }, self.options, toOptions(host, port, localAddress));
      if (self.sockets.length >= this.maxSockets) {
        self.requests.push(options);
        return;
      }
      self.createSocket(options, function(socket) {
        socket.on("free", onFree);
        socket.on("close", onCloseOrRemove);
        socket.on("agentRemove", onCloseOrRemove);
        req.onSocket(socket);
        function onFree() {
          self.emit("free", socket, options);
        }
        function onCloseOrRemove(err) {
          self.removeSocket(socket);
          socket.removeListener("free", onFree);
          socket.removeListener("close", onCloseOrRemove);
          socket.removeListener("agentRemove", onCloseOrRemove);
        }
      });
    };
    TunnelingAgent.prototype.createSocket = function createSocket(options, cb) {
      var self = this;
      var placeholder = {};
      self.sockets.push(placeholder);
      var connectOptions = mergeOptions({}, self.proxyOptions, {
        method: "CONNECT",
        path: options.host + ":" + options.port,
        agent: false,
        headers: {
          host: options.host + ":" + options.port
        }
      });
      if (options.localAddress) {
        connectOptions.localAddress = options.localAddress;
      }
      if (connectOptions.proxyAuth) {
        connectOptions.headers = connectOptions.headers || {};
        connectOptions.headers["Proxy-Authorization"] = "Basic " + new Buffer(connectOptions.proxyAuth).toString("base64");
      }
      debug("making CONNECT request");
      var connectReq = self.request(connectOptions);
      connectReq.useChunkedEncodingByDefault = false;
      connectReq.once("response", onResponse);
      connectReq.once("upgrade", onUpgrade);
      connectReq.once("connect", onConnect);
      connectReq.once("error", onError);
      connectReq.end();
      function onResponse(res) {
        res.upgrade = true;
      }
      function onUpgrade(res, socket, head) {
        process.nextTick(function() {
          onConnect(res, socket, head);
        });
      }
      function onConnect(res, socket, head) {
        connectReq.removeAllListeners();
        socket.removeAllListeners();
        if (res.statusCode !== 200) {
          debug(
            "tunneling socket could not be established, statusCode=%d",
            res.statusCode
          );
          socket.destroy();
          var error2 = new Error("tunneling socket could not be established, statusCode=" + res.statusCode);
          error2.code = "ECONNRESET";
          options.request.emit("error", error2);
          self.removeSocket(placeholder);
          return;
        }
        if (head.length > 0) {
          debug("got illegal response body from proxy");
          socket.destroy();
          var error2 = new Error("got illegal response body from proxy");
          error2.code = "ECONNRESET";
          options.request.emit("error", error2);
          self.removeSocket(placeholder);
          return;
        }
        debug("tunneling connection has established");
        self.sockets[self.sockets.indexOf(placeholder)] = socket;
        return cb(socket);
      }
      function onError(cause) {
        connectReq.removeAllListeners();
        debug(
          "tunneling socket could not be established, cause=%s\n",
          cause.message,
          cause.stack
        );
        var error2 = new Error("tunneling socket could not be established, cause=" + cause.message);
        error2.code = "ECONNRESET";
        options.request.emit("error", error2);
        self.removeSocket(placeholder);
      }
    };
    TunnelingAgent.prototype.removeSocket = function removeSocket(socket) {
      var pos = this.sockets.indexOf(socket);
      if (pos === -1) {
        return;
      }
      this.sockets.splice(pos, 1);
      var pending = this.requests.shift();
      if (pending) {
        this.createSocket(pending, function(socket2) {
          pending.request.onSocket(socket2);
        });
      }
    };
    function createSecureSocket(options, cb) {
      var self = this;
      TunnelingAgent.prototype.createSocket.call(self, options, function(socket) {
        var hostHeader = options.request.getHeader("host");
        var tlsOptions = mergeOptions({}, self.options, {
          socket,
          servername: hostHeader ? hostHeader.replace(/:.*$/, "") : options.host
        });
        var secureSocket = tls.connect(0, tlsOptions);
        self.sockets[self.sockets.indexOf(socket)] = secureSocket;
        cb(secureSocket);
      });
    }
    function toOptions(host, port, localAddress) {
      if (typeof host === "string") {
        return {
          host,
          port,
          localAddress
        };
      }
      return host;
    }
    function mergeOptions(target) {
      for (var i = 1, len = arguments.length; i < len; ++i) {
        var overrides = arguments[i];
        if (typeof overrides === "object") {
          var keys = Object.keys(overrides);
          for (var j = 0, keyLen = keys.length; j < keyLen; ++j) {
            var k = keys[j];
            if (overrides[k] !== void 0) {
              target[k] = overrides[k];
            }
          }
        }
      }
      return target;
    }
    var debug;
    if (process.env.NODE_DEBUG && /\btunnel\b/.test(process.env.NODE_DEBUG)) {
      debug = function() {
        var args = Array.prototype.slice.call(arguments);
        if (typeof args[0] === "string") {
          args[0] = "TUNNEL: " + args[0];
        } else {
          args.unshift("TUNNEL:");
        }
        console.error.apply(console, args);
      };
    } else {
      debug = function() {
      };
    }
    exports2.debug = debug;
  }
});

// node_modules/tunnel/index.js
var require_tunnel2 = __commonJS({
  "node_modules/tunnel/index.js"(exports2, module2) {
    module2.exports = require_tunnel();
  }
});

// scripts/undici-stub.mjs
var ProxyAgent;
var init_undici_stub = __esm({
  "scripts/undici-stub.mjs"() {
    ProxyAgent = class {
      constructor() {
        throw new Error("iap-token: undici is not bundled; use HttpClient.getAgent, not getAgentDispatcher");
      }
    };
  }
});

// node_modules/@actions/http-client/lib/index.js
var lib_exports = {};
__export(lib_exports, {
  Headers: () => Headers,
  HttpClient: () => HttpClient,
  HttpClientError: () => HttpClientError,
  HttpClientResponse: () => HttpClientResponse,
  HttpCodes: () => HttpCodes,
  MediaTypes: () => MediaTypes,
  getProxyUrl: () => getProxyUrl2,
  isHttps: () => isHttps
});
function getProxyUrl2(serverUrl) {
  const proxyUrl = getProxyUrl(new URL(serverUrl));
  return proxyUrl ? proxyUrl.href : "";
}
function isHttps(requestUrl) {
  const parsedUrl = new URL(requestUrl);
  return parsedUrl.protocol === "https:";
}
var http, https, tunnel, __awaiter, HttpCodes, Headers, MediaTypes, HttpRedirectCodes, HttpResponseRetryCodes, RetryableHttpVerbs, ExponentialBackoffCeiling, ExponentialBackoffTimeSlice, HttpClientError, HttpClientResponse, HttpClient, lowercaseKeys;
var init_lib = __esm({
  "node_modules/@actions/http-client/lib/index.js"() {
    http = __toESM(require("http"));
    https = __toESM(require("https"));
    init_proxy();
    tunnel = __toESM(require_tunnel2());
    init_undici_stub();
    __awaiter = function(thisArg, _arguments, P, generator) {
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
    (function(HttpCodes2) {
      HttpCodes2[HttpCodes2["OK"] = 200] = "OK";
      HttpCodes2[HttpCodes2["MultipleChoices"] = 300] = "MultipleChoices";
      HttpCodes2[HttpCodes2["MovedPermanently"] = 301] = "MovedPermanently";
      HttpCodes2[HttpCodes2["ResourceMoved"] = 302] = "ResourceMoved";
      HttpCodes2[HttpCodes2["SeeOther"] = 303] = "SeeOther";
      HttpCodes2[HttpCodes2["NotModified"] = 304] = "NotModified";
      HttpCodes2[HttpCodes2["UseProxy"] = 305] = "UseProxy";
      HttpCodes2[HttpCodes2["SwitchProxy"] = 306] = "SwitchProxy";
      HttpCodes2[HttpCodes2["TemporaryRedirect"] = 307] = "TemporaryRedirect";
      HttpCodes2[HttpCodes2["PermanentRedirect"] = 308] = "PermanentRedirect";
      HttpCodes2[HttpCodes2["BadRequest"] = 400] = "BadRequest";
      HttpCodes2[HttpCodes2["Unauthorized"] = 401] = "Unauthorized";
      HttpCodes2[HttpCodes2["PaymentRequired"] = 402] = "PaymentRequired";
      HttpCodes2[HttpCodes2["Forbidden"] = 403] = "Forbidden";
      HttpCodes2[HttpCodes2["NotFound"] = 404] = "NotFound";
      HttpCodes2[HttpCodes2["MethodNotAllowed"] = 405] = "MethodNotAllowed";
      HttpCodes2[HttpCodes2["NotAcceptable"] = 406] = "NotAcceptable";
      HttpCodes2[HttpCodes2["ProxyAuthenticationRequired"] = 407] = "ProxyAuthenticationRequired";
      HttpCodes2[HttpCodes2["RequestTimeout"] = 408] = "RequestTimeout";
      HttpCodes2[HttpCodes2["Conflict"] = 409] = "Conflict";
      HttpCodes2[HttpCodes2["Gone"] = 410] = "Gone";
      HttpCodes2[HttpCodes2["TooManyRequests"] = 429] = "TooManyRequests";
      HttpCodes2[HttpCodes2["InternalServerError"] = 500] = "InternalServerError";
      HttpCodes2[HttpCodes2["NotImplemented"] = 501] = "NotImplemented";
      HttpCodes2[HttpCodes2["BadGateway"] = 502] = "BadGateway";
      HttpCodes2[HttpCodes2["ServiceUnavailable"] = 503] = "ServiceUnavailable";
      HttpCodes2[HttpCodes2["GatewayTimeout"] = 504] = "GatewayTimeout";
    })(HttpCodes || (HttpCodes = {}));
    (function(Headers2) {
      Headers2["Accept"] = "accept";
      Headers2["ContentType"] = "content-type";
    })(Headers || (Headers = {}));
    (function(MediaTypes2) {
      MediaTypes2["ApplicationJson"] = "application/json";
    })(MediaTypes || (MediaTypes = {}));
    HttpRedirectCodes = [
      HttpCodes.MovedPermanently,
      HttpCodes.ResourceMoved,
      HttpCodes.SeeOther,
      HttpCodes.TemporaryRedirect,
      HttpCodes.PermanentRedirect
    ];
    HttpResponseRetryCodes = [
      HttpCodes.BadGateway,
      HttpCodes.ServiceUnavailable,
      HttpCodes.GatewayTimeout
    ];
    RetryableHttpVerbs = ["OPTIONS", "GET", "DELETE", "HEAD"];
    ExponentialBackoffCeiling = 10;
    ExponentialBackoffTimeSlice = 5;
    HttpClientError = class _HttpClientError extends Error {
      constructor(message, statusCode) {
        super(message);
        this.name = "HttpClientError";
        this.statusCode = statusCode;
        Object.setPrototypeOf(this, _HttpClientError.prototype);
      }
    };
    HttpClientResponse = class {
      constructor(message) {
        this.message = message;
      }
      readBody() {
        return __awaiter(this, void 0, void 0, function* () {
          return new Promise((resolve) => __awaiter(this, void 0, void 0, function* () {
            let output = Buffer.alloc(0);
            this.message.on("data", (chunk) => {
              output = Buffer.concat([output, chunk]);
            });
            this.message.on("end", () => {
              resolve(output.toString());
            });
          }));
        });
      }
      readBodyBuffer() {
        return __awaiter(this, void 0, void 0, function* () {
          return new Promise((resolve) => __awaiter(this, void 0, void 0, function* () {
            const chunks = [];
            this.message.on("data", (chunk) => {
              chunks.push(chunk);
            });
            this.message.on("end", () => {
              resolve(Buffer.concat(chunks));
            });
          }));
        });
      }
    };
    HttpClient = class {
      constructor(userAgent, handlers, requestOptions) {
        this._ignoreSslError = false;
        this._allowRedirects = true;
        this._allowRedirectDowngrade = false;
        this._maxRedirects = 50;
        this._allowRetries = false;
        this._maxRetries = 1;
        this._keepAlive = false;
        this._disposed = false;
        this.userAgent = this._getUserAgentWithOrchestrationId(userAgent);
        this.handlers = handlers || [];
        this.requestOptions = requestOptions;
        if (requestOptions) {
          if (requestOptions.ignoreSslError != null) {
            this._ignoreSslError = requestOptions.ignoreSslError;
          }
          this._socketTimeout = requestOptions.socketTimeout;
          if (requestOptions.allowRedirects != null) {
            this._allowRedirects = requestOptions.allowRedirects;
          }
          if (requestOptions.allowRedirectDowngrade != null) {
            this._allowRedirectDowngrade = requestOptions.allowRedirectDowngrade;
          }
          if (requestOptions.maxRedirects != null) {
            this._maxRedirects = Math.max(requestOptions.maxRedirects, 0);
          }
          if (requestOptions.keepAlive != null) {
            this._keepAlive = requestOptions.keepAlive;
          }
          if (requestOptions.allowRetries != null) {
            this._allowRetries = requestOptions.allowRetries;
          }
          if (requestOptions.maxRetries != null) {
            this._maxRetries = requestOptions.maxRetries;
          }
        }
      }
      options(requestUrl, additionalHeaders) {
        return __awaiter(this, void 0, void 0, function* () {
          return this.request("OPTIONS", requestUrl, null, additionalHeaders || {});
        });
      }
      get(requestUrl, additionalHeaders) {
        return __awaiter(this, void 0, void 0, function* () {
          return this.request("GET", requestUrl, null, additionalHeaders || {});
        });
      }
      del(requestUrl, additionalHeaders) {
        return __awaiter(this, void 0, void 0, function* () {
          return this.request("DELETE", requestUrl, null, additionalHeaders || {});
        });
      }
      post(requestUrl, data, additionalHeaders) {
        return __awaiter(this, void 0, void 0, function* () {
          return this.request("POST", requestUrl, data, additionalHeaders || {});
        });
      }
      patch(requestUrl, data, additionalHeaders) {
        return __awaiter(this, void 0, void 0, function* () {
          return this.request("PATCH", requestUrl, data, additionalHeaders || {});
        });
      }
      put(requestUrl, data, additionalHeaders) {
        return __awaiter(this, void 0, void 0, function* () {
          return this.request("PUT", requestUrl, data, additionalHeaders || {});
        });
      }
      head(requestUrl, additionalHeaders) {
        return __awaiter(this, void 0, void 0, function* () {
          return this.request("HEAD", requestUrl, null, additionalHeaders || {});
        });
      }
      sendStream(verb, requestUrl, stream, additionalHeaders) {
        return __awaiter(this, void 0, void 0, function* () {
          return this.request(verb, requestUrl, stream, additionalHeaders);
        });
      }
      /**
       * Gets a typed object from an endpoint
       * Be aware that not found returns a null.  Other errors (4xx, 5xx) reject the promise
       */
      getJson(requestUrl_1) {
        return __awaiter(this, arguments, void 0, function* (requestUrl, additionalHeaders = {}) {
          additionalHeaders[Headers.Accept] = this._getExistingOrDefaultHeader(additionalHeaders, Headers.Accept, MediaTypes.ApplicationJson);
          const res = yield this.get(requestUrl, additionalHeaders);
          return this._processResponse(res, this.requestOptions);
        });
      }
      postJson(requestUrl_1, obj_1) {
        return __awaiter(this, arguments, void 0, function* (requestUrl, obj, additionalHeaders = {}) {
          const data = JSON.stringify(obj, null, 2);
          additionalHeaders[Headers.Accept] = this._getExistingOrDefaultHeader(additionalHeaders, Headers.Accept, MediaTypes.ApplicationJson);
          additionalHeaders[Headers.ContentType] = this._getExistingOrDefaultContentTypeHeader(additionalHeaders, MediaTypes.ApplicationJson);
          const res = yield this.post(requestUrl, data, additionalHeaders);
          return this._processResponse(res, this.requestOptions);
        });
      }
      putJson(requestUrl_1, obj_1) {
        return __awaiter(this, arguments, void 0, function* (requestUrl, obj, additionalHeaders = {}) {
          const data = JSON.stringify(obj, null, 2);
          additionalHeaders[Headers.Accept] = this._getExistingOrDefaultHeader(additionalHeaders, Headers.Accept, MediaTypes.ApplicationJson);
          additionalHeaders[Headers.ContentType] = this._getExistingOrDefaultContentTypeHeader(additionalHeaders, MediaTypes.ApplicationJson);
          const res = yield this.put(requestUrl, data, additionalHeaders);
          return this._processResponse(res, this.requestOptions);
        });
      }
      patchJson(requestUrl_1, obj_1) {
        return __awaiter(this, arguments, void 0, function* (requestUrl, obj, additionalHeaders = {}) {
          const data = JSON.stringify(obj, null, 2);
          additionalHeaders[Headers.Accept] = this._getExistingOrDefaultHeader(additionalHeaders, Headers.Accept, MediaTypes.ApplicationJson);
          additionalHeaders[Headers.ContentType] = this._getExistingOrDefaultContentTypeHeader(additionalHeaders, MediaTypes.ApplicationJson);
          const res = yield this.patch(requestUrl, data, additionalHeaders);
          return this._processResponse(res, this.requestOptions);
        });
      }
      /**
       * Makes a raw http request.
       * All other methods such as get, post, patch, and request ultimately call this.
       * Prefer get, del, post and patch
       */
      request(verb, requestUrl, data, headers) {
        return __awaiter(this, void 0, void 0, function* () {
          if (this._disposed) {
            throw new Error("Client has already been disposed.");
          }
          const parsedUrl = new URL(requestUrl);
          let info2 = this._prepareRequest(verb, parsedUrl, headers);
          const maxTries = this._allowRetries && RetryableHttpVerbs.includes(verb) ? this._maxRetries + 1 : 1;
          let numTries = 0;
          let response;
          do {
            response = yield this.requestRaw(info2, data);
            if (response && response.message && response.message.statusCode === HttpCodes.Unauthorized) {
              let authenticationHandler;
              for (const handler of this.handlers) {
                if (handler.canHandleAuthentication(response)) {
                  authenticationHandler = handler;
                  break;
                }
              }
              if (authenticationHandler) {
                return authenticationHandler.handleAuthentication(this, info2, data);
              } else {
                return response;
              }
            }
            let redirectsRemaining = this._maxRedirects;
            while (response.message.statusCode && HttpRedirectCodes.includes(response.message.statusCode) && this._allowRedirects && redirectsRemaining > 0) {
              const redirectUrl = response.message.headers["location"];
              if (!redirectUrl) {
                break;
              }
              const parsedRedirectUrl = new URL(redirectUrl);
              if (parsedUrl.protocol === "https:" && parsedUrl.protocol !== parsedRedirectUrl.protocol && !this._allowRedirectDowngrade) {
                throw new Error("Redirect from HTTPS to HTTP protocol. This downgrade is not allowed for security reasons. If you want to allow this behavior, set the allowRedirectDowngrade option to true.");
              }
              yield response.readBody();
              if (parsedRedirectUrl.hostname !== parsedUrl.hostname) {
                for (const header in headers) {
                  if (header.toLowerCase() === "authorization") {
                    delete headers[header];
                  }
                }
              }
              info2 = this._prepareRequest(verb, parsedRedirectUrl, headers);
              response = yield this.requestRaw(info2, data);
              redirectsRemaining--;
            }
            if (!response.message.statusCode || !HttpResponseRetryCodes.includes(response.message.statusCode)) {
              return response;
            }
            numTries += 1;
            if (numTries < maxTries) {
              yield response.readBody();
              yield this._performExponentialBackoff(numTries);
            }
          } while (numTries < maxTries);
          return response;
        });
      }
      /**
       * Needs to be called if keepAlive is set to true in request options.
       */
      dispose() {
        if (this._agent) {
          this._agent.destroy();
        }
        this._disposed = true;
      }
      /**
       * Raw request.
       * @param info
       * @param data
       */
      requestRaw(info2, data) {
        return __awaiter(this, void 0, void 0, function* () {
          return new Promise((resolve, reject) => {
            function callbackForResult(err, res) {
              if (err) {
                reject(err);
              } else if (!res) {
                reject(new Error("Unknown error"));
              } else {
                resolve(res);
              }
            }
            this.requestRawWithCallback(info2, data, callbackForResult);
          });
        });
      }
      /**
       * Raw request with callback.
       * @param info
       * @param data
       * @param onResult
       */
      requestRawWithCallback(info2, data, onResult) {
        if (typeof data === "string") {
          if (!info2.options.headers) {
            info2.options.headers = {};
          }
          info2.options.headers["Content-Length"] = Buffer.byteLength(data, "utf8");
        }
        let callbackCalled = false;
        function handleResult(err, res) {
          if (!callbackCalled) {
            callbackCalled = true;
            onResult(err, res);
          }
        }
        const req = info2.httpModule.request(info2.options, (msg) => {
          const res = new HttpClientResponse(msg);
          handleResult(void 0, res);
        });
        let socket;
        req.on("socket", (sock) => {
          socket = sock;
        });
        req.setTimeout(this._socketTimeout || 3 * 6e4, () => {
          if (socket) {
            socket.end();
          }
          handleResult(new Error(`Request timeout: ${info2.options.path}`));
        });
        req.on("error", function(err) {
          handleResult(err);
        });
        if (data && typeof data === "string") {
          req.write(data, "utf8");
        }
        if (data && typeof data !== "string") {
          data.on("close", function() {
            req.end();
          });
          data.pipe(req);
        } else {
          req.end();
        }
      }
      /**
       * Gets an http agent. This function is useful when you need an http agent that handles
       * routing through a proxy server - depending upon the url and proxy environment variables.
       * @param serverUrl  The server URL where the request will be sent. For example, https://api.github.com
       */
      getAgent(serverUrl) {
        const parsedUrl = new URL(serverUrl);
        return this._getAgent(parsedUrl);
      }
      getAgentDispatcher(serverUrl) {
        const parsedUrl = new URL(serverUrl);
        const proxyUrl = getProxyUrl(parsedUrl);
        const useProxy = proxyUrl && proxyUrl.hostname;
        if (!useProxy) {
          return;
        }
        return this._getProxyAgentDispatcher(parsedUrl, proxyUrl);
      }
      _prepareRequest(method, requestUrl, headers) {
        const info2 = {};
        info2.parsedUrl = requestUrl;
        const usingSsl = info2.parsedUrl.protocol === "https:";
        info2.httpModule = usingSsl ? https : http;
        const defaultPort = usingSsl ? 443 : 80;
        info2.options = {};
        info2.options.host = info2.parsedUrl.hostname;
        info2.options.port = info2.parsedUrl.port ? parseInt(info2.parsedUrl.port) : defaultPort;
        info2.options.path = (info2.parsedUrl.pathname || "") + (info2.parsedUrl.search || "");
        info2.options.method = method;
        info2.options.headers = this._mergeHeaders(headers);
        if (this.userAgent != null) {
          info2.options.headers["user-agent"] = this.userAgent;
        }
        info2.options.agent = this._getAgent(info2.parsedUrl);
        if (this.handlers) {
          for (const handler of this.handlers) {
            handler.prepareRequest(info2.options);
          }
        }
        return info2;
      }
      _mergeHeaders(headers) {
        if (this.requestOptions && this.requestOptions.headers) {
          return Object.assign({}, lowercaseKeys(this.requestOptions.headers), lowercaseKeys(headers || {}));
        }
        return lowercaseKeys(headers || {});
      }
      /**
       * Gets an existing header value or returns a default.
       * Handles converting number header values to strings since HTTP headers must be strings.
       * Note: This returns string | string[] since some headers can have multiple values.
       * For headers that must always be a single string (like Content-Type), use the
       * specialized _getExistingOrDefaultContentTypeHeader method instead.
       */
      _getExistingOrDefaultHeader(additionalHeaders, header, _default) {
        let clientHeader;
        if (this.requestOptions && this.requestOptions.headers) {
          const headerValue = lowercaseKeys(this.requestOptions.headers)[header];
          if (headerValue) {
            clientHeader = typeof headerValue === "number" ? headerValue.toString() : headerValue;
          }
        }
        const additionalValue = additionalHeaders[header];
        if (additionalValue !== void 0) {
          return typeof additionalValue === "number" ? additionalValue.toString() : additionalValue;
        }
        if (clientHeader !== void 0) {
          return clientHeader;
        }
        return _default;
      }
      /**
       * Specialized version of _getExistingOrDefaultHeader for Content-Type header.
       * Always returns a single string (not an array) since Content-Type should be a single value.
       * Converts arrays to comma-separated strings and numbers to strings to ensure type safety.
       * This was split from _getExistingOrDefaultHeader to provide stricter typing for callers
       * that assign the result to places expecting a string (e.g., additionalHeaders[Headers.ContentType]).
       */
      _getExistingOrDefaultContentTypeHeader(additionalHeaders, _default) {
        let clientHeader;
        if (this.requestOptions && this.requestOptions.headers) {
          const headerValue = lowercaseKeys(this.requestOptions.headers)[Headers.ContentType];
          if (headerValue) {
            if (typeof headerValue === "number") {
              clientHeader = String(headerValue);
            } else if (Array.isArray(headerValue)) {
              clientHeader = headerValue.join(", ");
            } else {
              clientHeader = headerValue;
            }
          }
        }
        const additionalValue = additionalHeaders[Headers.ContentType];
        if (additionalValue !== void 0) {
          if (typeof additionalValue === "number") {
            return String(additionalValue);
          } else if (Array.isArray(additionalValue)) {
            return additionalValue.join(", ");
          } else {
            return additionalValue;
          }
        }
        if (clientHeader !== void 0) {
          return clientHeader;
        }
        return _default;
      }
      _getAgent(parsedUrl) {
        let agent;
        const proxyUrl = getProxyUrl(parsedUrl);
        const useProxy = proxyUrl && proxyUrl.hostname;
        if (this._keepAlive && useProxy) {
          agent = this._proxyAgent;
        }
        if (!useProxy) {
          agent = this._agent;
        }
        if (agent) {
          return agent;
        }
        const usingSsl = parsedUrl.protocol === "https:";
        let maxSockets = 100;
        if (this.requestOptions) {
          maxSockets = this.requestOptions.maxSockets || http.globalAgent.maxSockets;
        }
        if (proxyUrl && proxyUrl.hostname) {
          const agentOptions = {
            maxSockets,
            keepAlive: this._keepAlive,
            proxy: Object.assign(Object.assign({}, (proxyUrl.username || proxyUrl.password) && {
              proxyAuth: `${proxyUrl.username}:${proxyUrl.password}`
            }), { host: proxyUrl.hostname, port: proxyUrl.port })
          };
          let tunnelAgent;
          const overHttps = proxyUrl.protocol === "https:";
          if (usingSsl) {
            tunnelAgent = overHttps ? tunnel.httpsOverHttps : tunnel.httpsOverHttp;
          } else {
            tunnelAgent = overHttps ? tunnel.httpOverHttps : tunnel.httpOverHttp;
          }
          agent = tunnelAgent(agentOptions);
          this._proxyAgent = agent;
        }
        if (!agent) {
          const options = { keepAlive: this._keepAlive, maxSockets };
          agent = usingSsl ? new https.Agent(options) : new http.Agent(options);
          this._agent = agent;
        }
        if (usingSsl && this._ignoreSslError) {
          agent.options = Object.assign(agent.options || {}, {
            rejectUnauthorized: false
          });
        }
        return agent;
      }
      _getProxyAgentDispatcher(parsedUrl, proxyUrl) {
        let proxyAgent2;
        if (this._keepAlive) {
          proxyAgent2 = this._proxyAgentDispatcher;
        }
        if (proxyAgent2) {
          return proxyAgent2;
        }
        const usingSsl = parsedUrl.protocol === "https:";
        proxyAgent2 = new ProxyAgent(Object.assign({ uri: proxyUrl.href, pipelining: !this._keepAlive ? 0 : 1 }, (proxyUrl.username || proxyUrl.password) && {
          token: `Basic ${Buffer.from(`${proxyUrl.username}:${proxyUrl.password}`).toString("base64")}`
        }));
        this._proxyAgentDispatcher = proxyAgent2;
        if (usingSsl && this._ignoreSslError) {
          proxyAgent2.options = Object.assign(proxyAgent2.options.requestTls || {}, {
            rejectUnauthorized: false
          });
        }
        return proxyAgent2;
      }
      _getUserAgentWithOrchestrationId(userAgent) {
        const baseUserAgent = userAgent || "actions/http-client";
        const orchId = process.env["ACTIONS_ORCHESTRATION_ID"];
        if (orchId) {
          const sanitizedId = orchId.replace(/[^a-z0-9_.-]/gi, "_");
          return `${baseUserAgent} actions_orchestration_id/${sanitizedId}`;
        }
        return baseUserAgent;
      }
      _performExponentialBackoff(retryNumber) {
        return __awaiter(this, void 0, void 0, function* () {
          retryNumber = Math.min(ExponentialBackoffCeiling, retryNumber);
          const ms = ExponentialBackoffTimeSlice * Math.pow(2, retryNumber);
          return new Promise((resolve) => setTimeout(() => resolve(), ms));
        });
      }
      _processResponse(res, options) {
        return __awaiter(this, void 0, void 0, function* () {
          return new Promise((resolve, reject) => __awaiter(this, void 0, void 0, function* () {
            const statusCode = res.message.statusCode || 0;
            const response = {
              statusCode,
              result: null,
              headers: {}
            };
            if (statusCode === HttpCodes.NotFound) {
              resolve(response);
            }
            function dateTimeDeserializer(key, value) {
              if (typeof value === "string") {
                const a = new Date(value);
                if (!isNaN(a.valueOf())) {
                  return a;
                }
              }
              return value;
            }
            let obj;
            let contents;
            try {
              contents = yield res.readBody();
              if (contents && contents.length > 0) {
                if (options && options.deserializeDates) {
                  obj = JSON.parse(contents, dateTimeDeserializer);
                } else {
                  obj = JSON.parse(contents);
                }
                response.result = obj;
              }
              response.headers = res.message.headers;
            } catch (err) {
            }
            if (statusCode > 299) {
              let msg;
              if (obj && obj.message) {
                msg = obj.message;
              } else if (contents && contents.length > 0) {
                msg = contents;
              } else {
                msg = `Failed request: (${statusCode})`;
              }
              const err = new HttpClientError(msg, statusCode);
              err.result = response.result;
              reject(err);
            } else {
              resolve(response);
            }
          }));
        });
      }
    };
    lowercaseKeys = (obj) => Object.keys(obj).reduce((c, k) => (c[k.toLowerCase()] = obj[k], c), {});
  }
});

// src/errors.ts
function quote(value) {
  if (value.length <= 100 && !/[\r\n{}]/.test(value)) return `"${value}"`;
  return `a ${value.length}-character value (not shown: it may be a secret)`;
}
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
var InputError, complainAsAction, ApiError, ActionError;
var init_errors = __esm({
  "src/errors.ts"() {
    "use strict";
    InputError = class extends Error {
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
    complainAsAction = (input, problem) => new InputError(input, problem);
    ApiError = class extends Error {
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
    ActionError = class extends Error {
      name = "ActionError";
      remedy;
      constructor(message, remedy) {
        super(message);
        this.remedy = remedy;
      }
    };
  }
});

// src/email.ts
function isEmail(value) {
  return /^[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$/.test(value);
}
var init_email = __esm({
  "src/email.ts"() {
    "use strict";
  }
});

// src/urls.ts
function isLoopback(hostname) {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}
function carriesTokens(url) {
  return url.protocol === "https:" || url.protocol === "http:" && isLoopback(url.hostname);
}
function displayUrl(url) {
  const parsed = typeof url === "string" ? new URL(url) : url;
  return `${parsed.origin}${parsed.pathname}${parsed.search ? "?…" : ""}`;
}
function audienceCovers(audience, url) {
  const bare = `${url.origin}${url.pathname}`;
  const covered = audience.endsWith("*") ? bare.startsWith(audience.slice(0, -1)) : bare === audience;
  if (covered) return void 0;
  return `${displayUrl(url)} is not covered by the signed JWT's audience ${audience}, so IAP would refuse it. Use an audience that covers every URL, such as ${url.origin}/*`;
}
var init_urls = __esm({
  "src/urls.ts"() {
    "use strict";
  }
});

// src/credentials/iap-access.ts
function cannotMintAccessToken(source, serviceAccount, env) {
  if (serviceAccount !== void 0 || source.kind !== "metadata") return void 0;
  if (env["GCE_METADATA_HOST"]?.trim() || SCOPING_PLATFORMS.some((name) => env[name])) return void 0;
  return `${source.origin} is, by this machine's environment (no Cloud Run variables), a Compute Engine VM's, which ignores the scopes asked for and gives the VM's own access scopes, so IAP would not take its access token (on GKE with Workload Identity, whose server honours them, set GCE_METADATA_HOST=metadata.google.internal to say so)`;
}
var SCOPING_PLATFORMS;
var init_iap_access = __esm({
  "src/credentials/iap-access.ts"() {
    "use strict";
    SCOPING_PLATFORMS = ["K_SERVICE", "CLOUD_RUN_JOB"];
  }
});

// src/credentials/signing.ts
function cannotSign(source, serviceAccount) {
  if (serviceAccount !== void 0) return void 0;
  if (source.kind === "refresh_token") return "user";
  if (source.kind === "service_account_key" && !source.key.privateKeyId) return "no-key-id";
  return void 0;
}
var init_signing = __esm({
  "src/credentials/signing.ts"() {
    "use strict";
  }
});

// src/secrets.ts
function setMasker(masker) {
  mask = masker;
}
function registerSecret(value, { perLine = true } = {}) {
  if (!value) return;
  for (const candidate of perLine ? [value, ...value.split(/\r?\n/)] : [value]) {
    const trimmed = candidate.trim();
    if (trimmed.length < MIN_SECRET_LENGTH || known.has(trimmed)) continue;
    known.add(trimmed);
    mask(trimmed);
  }
}
function redact(text2) {
  let out = text2;
  for (const secret of [...known].sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join("***");
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) out = out.split(encoded).join("***");
  }
  return out;
}
var known, mask, MIN_SECRET_LENGTH;
var init_secrets = __esm({
  "src/secrets.ts"() {
    "use strict";
    known = /* @__PURE__ */ new Set();
    mask = () => {
      throw new Error("no masker: the front door must call setMasker before any secret exists");
    };
    MIN_SECRET_LENGTH = 6;
  }
});

// src/json.ts
function parseJsonObject(text2) {
  try {
    const value = JSON.parse(text2);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? value : void 0;
  } catch {
    return void 0;
  }
}
var init_json = __esm({
  "src/json.ts"() {
    "use strict";
  }
});

// src/iap/refusals.ts
function explainRefusal(refusal, reader, context) {
  const words = REFUSALS[refusal];
  return (reader === "trial" ? words.trial : void 0) ?? words.proxy(context);
}
function refusalFix(refusal, context) {
  return REFUSALS[refusal].fix?.(context);
}
var NO_ACCESS_TOKENS, REFUSALS;
var init_refusals = __esm({
  "src/iap/refusals.ts"() {
    "use strict";
    NO_ACCESS_TOKENS = "this app does not take access tokens: IAP read the token as a JWT and could not parse it.";
    REFUSALS = {
      expired: {
        proxy: () => "IAP found the token expired or not yet valid: the agent mints a fresh one at once; if this persists, check this machine's clock.",
        trial: "IAP found the token expired or not yet valid, though it was just minted: check this machine's clock.",
        fix: () => "the token expired; check the runner's clock, or mint it closer to its use."
      },
      audience: {
        proxy: () => "IAP refused the token's audience: for an ID token use the OAuth client IAP uses for the app (or one on its programmaticClients); for a signed JWT, the app's URL as https://HOST/*."
      },
      scope: {
        proxy: () => "IAP refused the access token's scopes: it takes one only with openid and https://www.googleapis.com/auth/userinfo.email.",
        fix: () => "the access token lacks the openid and email scopes. A refresh token must come from a sign-in that granted them (iap-token login asks for both); a metadata server must honour ?scopes= (Cloud Run, GKE with Workload Identity; not a Compute Engine VM): else set service_account."
      },
      email: {
        proxy: () => "IAP refused an ID token without an email claim: mint it with include_email.",
        trial: "IAP refused an ID token without an email claim.",
        fix: () => "the ID token has no email claim; set include_email: true."
      },
      signature: {
        proxy: () => "IAP could not verify the token signature: the signing key may have been deleted; the agent mints again.",
        trial: "IAP could not verify the token's signature: for a signed JWT, the signing key may have been deleted.",
        fix: ({ kind, principal }) => kind === "signed_jwt" ? `IAP could not verify the JWT with ${principal}'s public keys; the signing key may have been deleted. Mint again.` : "the token is not signed by Google; pass the action's token output unchanged."
      },
      parse: {
        proxy: ({ header, kind }) => kind === "access_token" ? NO_ACCESS_TOKENS : `IAP did not receive a JWT in the ${header} header: something on the way changed it.`,
        fix: ({ header, kind }) => kind === "access_token" ? `${NO_ACCESS_TOKENS} Use a signed JWT or an ID token instead: token_type signed_jwt or id_token (iap-token doctor URL shows which get through).` : `IAP did not receive a JWT in the ${header} header. Check smoke_test_headers and any proxy on the way.`
      },
      empty: {
        proxy: ({ header }) => `IAP saw no token: something between the proxy and IAP strips the ${header} header.`,
        fix: ({ header }) => `IAP saw no token: something between the runner and IAP strips the ${header} header (a proxy, a load balancer rule).`
      },
      "sign-in": {
        proxy: ({ header }) => `IAP saw no token: something between the proxy and IAP strips the ${header} header.`
      },
      forbidden: {
        proxy: ({ principal }) => `IAP refused ${principal}: it lacks roles/iap.httpsResourceAccessor on this app, or a fresh grant has not propagated yet (minutes).`
      },
      other: { proxy: () => "IAP refused the request." }
    };
  }
});

// src/iap/answers.ts
function answeredByIap(headers) {
  return String(headers["x-goog-iap-generated-response"] ?? "").toLowerCase() === "true";
}
function answeredBy(headers) {
  if (!headers) return null;
  return answeredByIap(headers) ? "iap" : "app";
}
function turnedAwayByIap(status, from) {
  return from === "iap" && status !== null && STRANGER_REFUSALS.has(status);
}
function answererName(from) {
  return from === "iap" ? "IAP" : "the app";
}
function iapRefusal(status, body) {
  if (status === 403) return "forbidden";
  if (status >= 300 && status < 400) return "sign-in";
  const said = body.slice(0, READ_CHARS).toLowerCase();
  if (said.includes("expired") || said.includes("in the future") || said.includes("not yet valid")) return "expired";
  if (said.includes("audience")) return "audience";
  if (said.includes("scope")) return "scope";
  if (said.includes("email")) return "email";
  if (said.includes("signature")) return "signature";
  if (said.includes("parse")) return "parse";
  if (said.includes("empty token")) return "empty";
  return "other";
}
var STRANGER_REFUSALS, READ_CHARS;
var init_answers = __esm({
  "src/iap/answers.ts"() {
    "use strict";
    STRANGER_REFUSALS = /* @__PURE__ */ new Set([302, 303, 307, 401, 403]);
    READ_CHARS = 512;
  }
});

// src/iap/trial.ts
function tookToken(from, refusal) {
  return from === "app" || refusal === "forbidden";
}
async function sendThroughIap(http2, url, token, what) {
  try {
    const { response } = await http2.send({
      what: `${what} at ${displayUrl(url)}`,
      method: "GET",
      url: url.href,
      headers: { authorization: `Bearer ${token}` },
      retry: TRIAL_RETRY
    });
    const from = answeredBy(response.headers);
    const refusal = from === "iap" ? iapRefusal(response.status, response.body) : void 0;
    return { status: response.status, from, refusal, accepted: tookToken(from, refusal), response, failure: void 0 };
  } catch (error2) {
    if (!(error2 instanceof ApiError)) throw error2;
    return { status: null, from: null, refusal: void 0, accepted: false, response: void 0, failure: error2.failure.message };
  }
}
var TRIAL_RETRY;
var init_trial = __esm({
  "src/iap/trial.ts"() {
    "use strict";
    init_errors();
    init_urls();
    init_answers();
    TRIAL_RETRY = { attempts: 2, timeoutMs: 15e3, budgetMs: 2e4 };
  }
});

// src/jwt.ts
function base64url(input) {
  return Buffer.from(input).toString("base64url");
}
function decodeJwt(token) {
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9_-]+$/.test(part))) return void 0;
  const header = parseSegment(parts[0] ?? "");
  const claims = parseSegment(parts[1] ?? "");
  return header && claims ? { header, claims } : void 0;
}
function parseSegment(segment) {
  return parseJsonObject(Buffer.from(segment, "base64url").toString("utf8"));
}
function signRs256(claims, key, keyId) {
  const header = keyId ? { alg: "RS256", typ: "JWT", kid: keyId } : { alg: "RS256", typ: "JWT" };
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = (0, import_node_crypto2.createSign)("RSA-SHA256").update(signingInput).sign(key);
  return `${signingInput}.${base64url(signature)}`;
}
var import_node_crypto2;
var init_jwt = __esm({
  "src/jwt.ts"() {
    "use strict";
    import_node_crypto2 = require("node:crypto");
    init_json();
  }
});

// src/tokens/check.ts
function checkIdToken(token, expect) {
  const jwt = decodeJwt(token);
  if (!jwt) throw new ActionError("Google returned a token that is not a JWT; IAP would refuse it.");
  const { aud, exp, email } = jwt.claims;
  if (aud !== expect.audience) {
    throw new ActionError(
      `The minted token's audience is "${String(aud)}", not the audience asked for ("${expect.audience}"); IAP would refuse it.`
    );
  }
  if (typeof exp !== "number" || exp * 1e3 <= expect.now) {
    throw new ActionError("The minted token has already expired (check the runner's clock); IAP would refuse it.");
  }
  if (expect.requireEmail && typeof email !== "string") {
    throw new ActionError(`The minted token has no email claim; IAP refuses such tokens ("JWT 'email' claim isn't a string").`);
  }
  if (typeof email === "string" && expect.principal && email.toLowerCase() !== expect.principal.toLowerCase()) {
    throw new ActionError(`The minted token is for ${email}, not ${expect.principal} as asked.`);
  }
  if (typeof email === "string" && !isEmail(email))
    throw new ActionError("The minted token's email claim is not an email address; IAP would refuse it.");
  const principal = typeof email === "string" ? email : expect.principal ?? "unknown";
  return { token, kind: "id_token", audience: expect.audience, principal, expiresAt: new Date(exp * 1e3) };
}
function checkSignedJwt(token, expect) {
  const jwt = decodeJwt(token);
  if (!jwt) throw new ActionError("The signed JWT is not a JWT; IAP would refuse it.");
  const { iss, sub, aud, iat, exp } = jwt.claims;
  if (jwt.header["alg"] !== "RS256")
    throw new ActionError(`The signed JWT uses ${String(jwt.header["alg"])}, not RS256; IAP would refuse it.`);
  if (typeof jwt.header["kid"] !== "string" || !jwt.header["kid"]) {
    throw new ActionError("The signed JWT names no key (kid); IAP, which looks the key up by it, would refuse it.");
  }
  if (iss !== expect.signer || sub !== expect.signer) {
    throw new ActionError(
      `The signed JWT names ${String(iss)} as issuer and ${String(sub)} as subject, not ${expect.signer}; IAP would refuse it.`
    );
  }
  if (aud !== expect.audience) throw new ActionError(`The signed JWT's audience is "${String(aud)}", not "${expect.audience}".`);
  if (typeof exp !== "number" || typeof iat !== "number" || exp - iat > 3600 || exp * 1e3 <= expect.now) {
    throw new ActionError("The signed JWT is expired or lives longer than an hour; IAP would refuse it.");
  }
  return { token, kind: "signed_jwt", audience: expect.audience, principal: expect.signer, expiresAt: new Date(exp * 1e3) };
}
function checkAccessToken(token, expect) {
  if (decodeJwt(token)) throw new ActionError("Google returned a JWT where an access token was asked for; it is not handed on.");
  if (!(expect.expiresAt > expect.now)) {
    throw new ActionError("The minted access token has already expired (check the runner's clock); IAP would refuse it.");
  }
  const expiresAt2 = new Date(Math.min(expect.expiresAt, expect.now + MAX_ACCESS_TOKEN_LIFE_MS));
  return { token, kind: "access_token", audience: "", principal: expect.principal ?? "unknown", expiresAt: expiresAt2 };
}
function describeMinted(minted, now = Date.now()) {
  const minutes = Math.round((minted.expiresAt.getTime() - now) / 6e4);
  const what = minted.kind === "access_token" ? "scopes openid and email (no audience)" : `audience ${minted.audience}`;
  return `Minted ${kindOf(minted.kind, "a")} for ${minted.principal}, ${what}, expires ${rfc3339(minted.expiresAt)} (in ${minutes} min).`;
}
function kindOf(kind, form) {
  const name = KIND_NAMES[kind];
  if (form === "a") return `${kind === "signed_jwt" ? "a" : "an"} ${name}`;
  return form === "Capital" ? `${name.charAt(0).toUpperCase()}${name.slice(1)}` : name;
}
function rfc3339(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}
var MAX_ACCESS_TOKEN_LIFE_MS, KIND_NAMES;
var init_check = __esm({
  "src/tokens/check.ts"() {
    "use strict";
    init_email();
    init_errors();
    init_jwt();
    MAX_ACCESS_TOKEN_LIFE_MS = 12 * 36e5;
    KIND_NAMES = {
      id_token: "ID token",
      signed_jwt: "signed JWT",
      access_token: "access token"
    };
  }
});

// src/tokens/access-token.ts
async function mintAccessToken(config, credential, now = Date.now) {
  if (!credential.iapAccessToken) {
    throw new ActionError(`This credential cannot mint an access token for IAP itself: set ${config.nameOf("service_account")}.`);
  }
  const { token, expiresAt: expiresAt2 } = await credential.iapAccessToken();
  return checkAccessToken(token, { expiresAt: expiresAt2, principal: credential.principal, now: now() });
}
var init_access_token = __esm({
  "src/tokens/access-token.ts"() {
    "use strict";
    init_errors();
    init_check();
  }
});

// src/tokens/id-token.ts
async function mintIdToken(config, credential, now = Date.now) {
  const { audience, includeEmail } = config;
  if (!credential.idToken) {
    throw new ActionError(`This credential cannot mint an ID token itself: set ${config.nameOf("service_account")}.`);
  }
  const token = await credential.idToken(audience, includeEmail);
  return checkIdToken(token, { audience, requireEmail: includeEmail, principal: credential.principal, now: now() });
}
var init_id_token = __esm({
  "src/tokens/id-token.ts"() {
    "use strict";
    init_errors();
    init_check();
  }
});

// src/google/answer.ts
function grantsIapScopes(scope) {
  const granted = new Set(scope.split(" "));
  return granted.has("openid") && (granted.has("email") || granted.has(EMAIL_SCOPE));
}
function shownScopes(scope) {
  const names = scope.split(" ").filter((name) => /^[\w.:/-]{1,100}$/.test(name)).slice(0, 10);
  return names.length ? names.join(" ") : "none";
}
function secretField(answer, name, from) {
  const value = answer[name];
  if (typeof value !== "string" || !value) {
    throw new ActionError(`${from} answered without ${name} (fields: ${describeFields(answer)}).`);
  }
  return checkedToken(value, JWT_FIELDS.has(name) ? "jwt" : "opaque", `${from}'s ${name}`);
}
function checkedToken(value, shape, what) {
  const fits = shape === "jwt" ? value.length <= MAX_JWT_CHARS && /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(value) : value.length <= (shape === "subject" ? MAX_SUBJECT_CHARS : MAX_OPAQUE_CHARS) && /^[\x21-\x7e]+$/.test(value);
  if (!fits) {
    throw new ActionError(
      `${what} is not ${shape === "jwt" ? "a JWT" : "a token"}: ${value.length} characters that are not one (not shown).`
    );
  }
  registerSecret(value);
  return value;
}
function describeFields(answer) {
  const names = Object.keys(answer).map((name) => name.slice(0, 40).replace(/[^\w.-]/g, "?"));
  if (names.length === 0) return "none";
  return names.length > 10 ? `${names.slice(0, 10).join(", ")} and ${names.length - 10} more` : names.join(", ");
}
function expiresAt(answer, now) {
  const seconds2 = typeof answer["expires_in"] === "number" ? answer["expires_in"] : Number(answer["expires_in"]);
  return now + (Number.isFinite(seconds2) && seconds2 > 0 ? seconds2 : 3600) * 1e3;
}
var CLOUD_PLATFORM_SCOPE, EMAIL_SCOPE, IAP_ACCESS_SCOPES, JWT_FIELDS, MAX_JWT_CHARS, MAX_OPAQUE_CHARS, MAX_SUBJECT_CHARS;
var init_answer = __esm({
  "src/google/answer.ts"() {
    "use strict";
    init_errors();
    init_secrets();
    CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform";
    EMAIL_SCOPE = "https://www.googleapis.com/auth/userinfo.email";
    IAP_ACCESS_SCOPES = ["openid", EMAIL_SCOPE];
    JWT_FIELDS = /* @__PURE__ */ new Set(["id_token", "token", "signedJwt", "value"]);
    MAX_JWT_CHARS = 16384;
    MAX_OPAQUE_CHARS = 8192;
    MAX_SUBJECT_CHARS = 65536;
  }
});

// src/http/failures.ts
function isRetryableStatus(status) {
  return status === 408 || status === 429 || status >= 500 && status <= 599 && status !== 501;
}
function isRetryableNetworkFailure(failure) {
  const code = failure.code ?? "";
  return code !== "ENOTFOUND" && !TLS_TRUST_CODES.has(code) && !/^PROXY_4/.test(code);
}
function networkFailure(error2, request, timeoutMs) {
  const host = safeHost(request.url);
  const err = error2;
  if (err.name === "TimeoutError" || err.name === "AbortError" || err.code === "ABORT_ERR") {
    return { status: 0, code: "TIMEOUT", message: `no complete answer from ${host} within ${timeoutMs / 1e3} s` };
  }
  const known2 = {
    ECONNRESET: `the connection to ${host} was reset`,
    ECONNREFUSED: `${host} refused the connection`,
    ENOTFOUND: `the name ${host} did not resolve (DNS)`,
    EAI_AGAIN: `the name ${host} did not resolve (DNS, temporary)`,
    ETIMEDOUT: `the connection to ${host} timed out`,
    EPIPE: `the connection to ${host} closed while sending`
  };
  const code = err.code ?? "ERROR";
  if (TLS_TRUST_CODES.has(code)) {
    return {
      status: 0,
      code,
      message: `the TLS certificate of ${host} is not trusted (${code}); behind a TLS-inspecting proxy, give the runner the proxy's CA with NODE_EXTRA_CA_CERTS`
    };
  }
  if (err.message?.startsWith("tunneling socket could not be established")) {
    const proxyStatus = /statusCode=(\d{3})/.exec(err.message)?.[1];
    return {
      status: 0,
      code: proxyStatus ? `PROXY_${proxyStatus}` : code,
      message: `the proxy (https_proxy/http_proxy) did not open a tunnel to ${host}: ${err.message}`
    };
  }
  return { status: 0, code, message: known2[code] ?? `could not reach ${host}: ${err.message ?? code}` };
}
function safeHost(url) {
  try {
    return new URL(url).host;
  } catch {
    return "the server";
  }
}
function plainFailure(response) {
  if (response.status >= 300 && response.status < 400) {
    const location = response.headers["location"];
    const target = typeof location === "string" ? ` to ${safeOrigin(location)}` : "";
    return { status: response.status, message: `a redirect${target}, not followed: tokens are never sent on` };
  }
  return { status: response.status, message: snippet(response.body) || "(empty body)" };
}
function safeOrigin(location) {
  try {
    return new URL(location).origin;
  } catch {
    return "another location";
  }
}
function htmlTitle(body) {
  const head = body.slice(0, TITLE_SEARCH_CHARS);
  const open = head.toLowerCase().indexOf("<title");
  if (open === -1) return void 0;
  const start = head.indexOf(">", open);
  const end = start === -1 ? -1 : head.toLowerCase().indexOf("</title>", start);
  return end === -1 ? void 0 : head.slice(start + 1, end).trim();
}
function describeBody(response) {
  const type = String(response.headers["content-type"] ?? "no content type").split(";")[0];
  const title = htmlTitle(response.body);
  return title ? `HTML page "${title.slice(0, 100)}"` : `${response.body.length} characters of ${type}`;
}
function snippet(body) {
  const title = htmlTitle(body);
  const text2 = (title ? `HTML page "${title}"` : body.slice(0, 1e3)).replace(/\s+/g, " ").trim();
  return text2.length > 300 ? `${text2.slice(0, 300)}…` : text2;
}
var TLS_TRUST_CODES, TITLE_SEARCH_CHARS;
var init_failures = __esm({
  "src/http/failures.ts"() {
    "use strict";
    TLS_TRUST_CODES = /* @__PURE__ */ new Set([
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
      "SELF_SIGNED_CERT_IN_CHAIN",
      "DEPTH_ZERO_SELF_SIGNED_CERT",
      "CERT_HAS_EXPIRED",
      "ERR_TLS_CERT_ALTNAME_INVALID"
    ]);
    TITLE_SEARCH_CHARS = 8192;
  }
});

// src/google/failure.ts
function googleFailure(response) {
  const json = parseJsonObject(response.body);
  const error2 = json?.["error"];
  if (error2 && typeof error2 === "object") {
    const e = error2;
    const details = Array.isArray(e["details"]) ? e["details"] : [];
    const reason = details.map((d) => d?.["reason"]).find((r) => typeof r === "string");
    const permission = details.map((d) => d?.["metadata"]?.["permission"]).find((p) => typeof p === "string");
    return {
      status: response.status,
      ...typeof e["status"] === "string" ? { code: e["status"] } : {},
      message: typeof e["message"] === "string" ? e["message"] : snippet(response.body),
      ...reason ? { reason } : {},
      ...permission ? { permission } : {}
    };
  }
  if (typeof error2 === "string") {
    const description = json?.["error_description"];
    return { status: response.status, code: error2, message: typeof description === "string" ? description : error2 };
  }
  return plainFailure(response);
}
var init_failure = __esm({
  "src/google/failure.ts"() {
    "use strict";
    init_failures();
    init_json();
  }
});

// src/google/sts.ts
async function exchangeAtSts(http2, exchange, now = Date.now) {
  const answer = await http2.json({
    failure: googleFailure,
    what: "STS token exchange",
    method: "POST",
    url: exchange.tokenUrl,
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({
      audience: exchange.audience,
      grantType: "urn:ietf:params:oauth:grant-type:token-exchange",
      requestedTokenType: "urn:ietf:params:oauth:token-type:access_token",
      scope: CLOUD_PLATFORM_SCOPE,
      subjectTokenType: exchange.subjectTokenType,
      subjectToken: exchange.subjectToken,
      ...exchange.workforcePoolUserProject ? { options: JSON.stringify({ userProject: exchange.workforcePoolUserProject }) } : {}
    }),
    remedy: (failure) => stsRemedy(failure, exchange)
  });
  return { token: secretField(answer, "access_token", "STS"), expiresAt: expiresAt(answer, now()) };
}
function stsRemedy(failure, exchange) {
  const provider = exchange.audience.replace(/^\/\/iam\.[^/]+\//, "");
  const claims = describeClaims(exchange.subjectToken);
  switch (failure.code) {
    case "invalid_target":
      return `Fix: the pool or provider ${provider} does not exist or is disabled. It must use the project number; check it with: gcloud iam workload-identity-pools providers describe ${provider}`;
    case "invalid_request":
      return `Fix: STS refused the request's form; check the provider name (${provider}).`;
    case "invalid_grant": {
      const audience = exchange.expectedAudience ?? "the subject token's audience";
      const issuer = exchange.expectedIssuer ? `its issuer is ${exchange.expectedIssuer}` : "its issuer matches the token's";
      const input = exchange.audienceInput ? `, or set ${exchange.audienceInput} to one of them` : "";
      return `Fix: the provider refused the subject token. Check that ${issuer} and that its allowed audiences include ${audience} (or are empty)${input}. ${claims}`.trim();
    }
    case "unauthorized_client":
      return `Fix: the provider's attribute condition rejected this job. Compare the condition with the token's claims. ${claims}`.trim();
    default:
      return void 0;
  }
}
function describeClaims(token) {
  const claims = decodeJwt(token)?.claims;
  if (!claims) return "";
  const shown = ["iss", "repository", "repository_owner", "ref", "event_name", "workflow_ref", "aud"].filter((name) => typeof claims[name] === "string").map((name) => `${name}=${String(claims[name])}`);
  return shown.length ? `The token has ${shown.join(", ")}.` : "";
}
var init_sts = __esm({
  "src/google/sts.ts"() {
    "use strict";
    init_jwt();
    init_answer();
    init_failure();
  }
});

// src/credentials/credential.ts
function renewing(fetch, now = Date.now) {
  let current;
  let fetchedAt = 0;
  let inFlight;
  return async () => {
    const margin = current ? Math.min(RENEW_BEFORE_MS, (current.expiresAt - fetchedAt) / 2) : 0;
    if (current && current.expiresAt - now() > margin) return current.token;
    inFlight ??= fetch().finally(() => {
      inFlight = void 0;
    });
    try {
      current = await inFlight;
      fetchedAt = now();
    } catch (error2) {
      if (current && current.expiresAt > now()) return current.token;
      throw error2;
    }
    return current.token;
  };
}
var RENEW_BEFORE_MS;
var init_credential = __esm({
  "src/credentials/credential.ts"() {
    "use strict";
    RENEW_BEFORE_MS = 5 * 6e4;
  }
});

// src/credentials/impersonation.ts
function impersonate(caller, target, iam, now = Date.now) {
  const self = {
    principal: target.serviceAccount,
    member: `serviceAccount:${target.serviceAccount}`,
    federated: false
  };
  const accessToken = renewing(async () => iam.generateAccessToken(caller, await caller.accessToken(), target), now);
  return {
    ...self,
    accessToken,
    idToken: async (audience, includeEmail) => iam.generateIdToken(caller, await caller.accessToken(), target, audience, includeEmail),
    iapAccessToken: async () => iam.generateAccessToken(caller, await caller.accessToken(), target, IAP_ACCESS_SCOPES),
    // signJwt refuses federated tokens (ACCESS_TOKEN_TYPE_UNSUPPORTED): such a caller first becomes the account (its
    // own access token), which then signs as itself; that needs the token creator role on itself, as the remedy says.
    signJwt: caller.federated ? async (claims) => iam.signJwt(self, await accessToken(), { serviceAccount: target.serviceAccount, delegates: [] }, claims) : async (claims) => iam.signJwt(caller, await caller.accessToken(), target, claims)
  };
}
var init_impersonation = __esm({
  "src/credentials/impersonation.ts"() {
    "use strict";
    init_answer();
    init_credential();
  }
});

// src/credentials/external-account.ts
function externalAccountCredential(source, endpoints, http2, iam, now = Date.now) {
  const federated = {
    principal: void 0,
    member: federatedMember(source.audience, endpoints.iamHost),
    federated: true,
    accessToken: renewing(async () => {
      const subject = source.subjectToken;
      if (subject.from === "library")
        return { token: await libraryExchange(subject.kind, subject.file), expiresAt: now() + STS_LIFETIME_MS };
      return exchangeAtSts(
        http2,
        {
          tokenUrl: source.tokenUrl,
          audience: source.audience,
          subjectToken: await readSubjectToken(subject, http2),
          subjectTokenType: source.subjectTokenType,
          workforcePoolUserProject: source.workforcePoolUserProject
        },
        now
      );
    }, now)
  };
  return source.impersonate ? impersonate(federated, { serviceAccount: source.impersonate, delegates: [], origin: source.origin }, iam, now) : federated;
}
function federatedMember(audience, iamHost) {
  const pool = /(projects\/[^/]+\/locations\/global\/workloadIdentityPools\/[^/]+)\/providers\//.exec(audience)?.[1];
  return pool ? `principalSet://${iamHost}/${pool}/*` : `principalSet://${iamHost}/(the pool of ${audience})`;
}
async function libraryExchange(kind, file) {
  let library;
  try {
    library = await Promise.resolve(require((0, import_node_path.join)(__dirname, "google-auth.cjs")));
  } catch {
    const fromSource = "./library-external-account.ts";
    library = await import(fromSource);
  }
  try {
    const token = await library.libraryFederatedToken(kind, file);
    registerSecret(token);
    return token;
  } catch (error2) {
    const message = redact(messageOf(error2));
    throw new ActionError(
      `The external account's ${kind} credential source failed (google-auth-library): ${message}`,
      kind === "executable" ? "Fix: run the credential_source.executable.command by hand on the runner and check it prints a successful response." : void 0
    );
  }
}
async function readSubjectToken(source, http2) {
  let text2;
  if (source.from === "file") {
    try {
      text2 = await (0, import_promises.readFile)(source.path, "utf8");
    } catch (error2) {
      throw new ActionError(
        `The external_account credential_source.file ${source.path} cannot be read (${error2.code ?? "error"}).`
      );
    }
  } else {
    text2 = await http2.text({
      failure: googleFailure,
      what: "Subject token request (credential_source.url)",
      method: "GET",
      url: source.url,
      headers: source.headers
    });
  }
  let token = text2.trim();
  if (source.field) {
    const parsed = parseJsonObject(text2);
    if (!parsed) throw new ActionError("The subject token source did not return a JSON object, but credential_source.format says json.");
    const value = parsed[source.field];
    if (typeof value !== "string") {
      throw new ActionError(
        `The subject token source's JSON has no string field ${source.field} (credential_source.format.subject_token_field_name).`
      );
    }
    token = value;
  }
  if (!token) throw new ActionError("The subject token source returned an empty token.");
  return checkedToken(token, "subject", "The subject token (credential_source)");
}
var import_promises, import_node_path, STS_LIFETIME_MS;
var init_external_account = __esm({
  "src/credentials/external-account.ts"() {
    "use strict";
    import_promises = require("node:fs/promises");
    import_node_path = require("node:path");
    init_errors();
    init_sts();
    init_json();
    init_answer();
    init_secrets();
    init_credential();
    init_impersonation();
    init_failure();
    STS_LIFETIME_MS = 36e5;
  }
});

// src/google/metadata.ts
function metadataRemedy({ status }, server) {
  if (status === 0) {
    return server.unreachable;
  }
  if (status === 404) {
    return `Fix: this metadata server has no identity endpoint (Cloud Build, for one) or no service account is attached to the VM. Attach a service account, ${server.otherwise}`;
  }
  if (status === 403) {
    return "Fix: the metadata server refused the request; on GKE, check Workload Identity is enabled for the node pool and the Kubernetes service account is bound to a Google service account.";
  }
  return `Fix: the metadata server could not provide a token; check the runner's service account and its scopes, ${server.otherwise}`;
}
var MetadataClient;
var init_metadata = __esm({
  "src/google/metadata.ts"() {
    "use strict";
    init_errors();
    init_email();
    init_json();
    init_answer();
    init_failure();
    MetadataClient = class {
      #http;
      #server;
      #now;
      constructor(http2, server, now = Date.now) {
        this.#http = http2;
        this.#server = server;
        this.#now = now;
      }
      /**
       * An access token for the runner's default service account: with the VM's access scopes, or those asked for where
       * the server honours `?scopes=` (Cloud Run, GKE with Workload Identity; a Compute Engine VM ignores it).
       */
      async accessToken(scopes) {
        const path = scopes ? `token?scopes=${scopes.map(encodeURIComponent).join(",")}` : "token";
        const answer = parseJsonObject(await this.#body("Metadata server access token", path));
        if (!answer) throw new ActionError("The metadata server answered its token request with something other than a JSON object.");
        return { token: secretField(answer, "access_token", "The metadata server"), expiresAt: expiresAt(answer, this.#now()) };
      }
      /** The default service account's email; it names the account in later request paths, so only an email is accepted. */
      async email() {
        const address = (await this.#body("Metadata server email", "email")).trim();
        if (!isEmail(address)) throw new ActionError("The metadata server named no service account email for this runner.");
        return address;
      }
      /** An ID token with the email claim (`format=full` adds it) for `audience`, in one request. */
      async idToken(audience) {
        const path = `identity?audience=${encodeURIComponent(audience)}&format=full`;
        const token = (await this.#body("Metadata server ID token", path)).trim();
        if (!token) throw new ActionError("The metadata server answered with an empty ID token.");
        return checkedToken(token, "jwt", "The metadata server's ID token");
      }
      /**
       * A 2xx body from the metadata server, which marks every answer with `Metadata-Flavor: Google`: anything else
       * answering at its address (a captive portal, a proxy) is not believed, nor its body masked or quoted.
       */
      async #body(what, path) {
        const response = await this.#http.ok(this.#request(what, path));
        if (String(response.headers["metadata-flavor"]) !== "Google") {
          throw new ActionError(
            `${what}: the answer did not come from a metadata server (no Metadata-Flavor: Google header). ${this.#server.unreachable}`
          );
        }
        return response.body;
      }
      #request(what, path) {
        return {
          what,
          failure: googleFailure,
          method: "GET",
          url: `http://${this.#server.host}/computeMetadata/v1/instance/service-accounts/default/${path}`,
          headers: { "metadata-flavor": "Google" },
          direct: true,
          retry: { timeoutMs: 3e3, attempts: 3, budgetMs: 6e3 },
          remedy: (failure) => metadataRemedy(failure, this.#server)
        };
      }
    };
  }
});

// src/credentials/metadata.ts
function metadataCredential(source, http2, now = Date.now) {
  const metadata = new MetadataClient(http2, source, now);
  let email;
  const withEmail = async (scopes) => {
    const [token, address] = await Promise.all([metadata.accessToken(scopes), email ?? metadata.email()]);
    email = address;
    return token;
  };
  return {
    get principal() {
      return email;
    },
    get member() {
      return `serviceAccount:${email ?? "THE_RUNNER_VM_SERVICE_ACCOUNT"}`;
    },
    federated: false,
    accessToken: renewing(() => withEmail(), now),
    idToken: (audience) => metadata.idToken(audience),
    // Only where the server honours ?scopes= (readConfig refuses a Compute Engine VM's, which ignores it).
    iapAccessToken: () => withEmail(IAP_ACCESS_SCOPES)
  };
}
var init_metadata2 = __esm({
  "src/credentials/metadata.ts"() {
    "use strict";
    init_answer();
    init_metadata();
    init_credential();
  }
});

// src/credentials/refresh-token.ts
function refreshTokenCredential(source, endpoints, oauth, now = Date.now) {
  let email;
  const refresh = async () => {
    const answer = await oauth.refreshAccessToken(endpoints.oauth2, source);
    email = answer.email ?? email;
    return answer;
  };
  return {
    get principal() {
      return email;
    },
    get member() {
      return `user:${email ?? "YOUR_EMAIL"}`;
    },
    federated: false,
    accessToken: renewing(async () => (await refresh()).accessToken, now),
    idToken: (audience) => oauth.refreshIdToken(endpoints.oauth2, source, audience),
    iapAccessToken: async () => {
      const { accessToken, scope } = await refresh();
      if (!grantsIapScopes(scope)) {
        throw new ActionError(
          `The refresh token (${source.origin}) was not granted the openid and email scopes (Google says it holds: ${shownScopes(scope)}), and IAP takes an access token only with both.`,
          "Fix: sign in again asking for them: iap-token login asks for openid email; by hand, the authorization URL needs scope=openid%20email."
        );
      }
      return accessToken;
    }
  };
}
var init_refresh_token = __esm({
  "src/credentials/refresh-token.ts"() {
    "use strict";
    init_errors();
    init_answer();
    init_credential();
  }
});

// src/credentials/service-account-key.ts
function serviceAccountKeyCredential(source, endpoints, oauth, now = Date.now) {
  const { key } = source;
  const tokenUrl = endpoints.overridden.has("oauth2") ? `${endpoints.oauth2}/token` : key.tokenUri ?? `${endpoints.oauth2}/token`;
  const signer = { email: key.clientEmail, origin: source.origin };
  const sign = (claims) => {
    const jwt = signRs256(claims, key.privateKey, key.privateKeyId);
    registerSecret(jwt);
    return jwt;
  };
  const assertion = (claim) => {
    const iat = Math.floor(now() / 1e3);
    return sign({ iss: key.clientEmail, aud: tokenUrl, iat, exp: iat + ASSERTION_LIFETIME_S, ...claim });
  };
  return {
    principal: key.clientEmail,
    member: `serviceAccount:${key.clientEmail}`,
    federated: false,
    accessToken: renewing(() => oauth.keyAccessToken(tokenUrl, assertion({ scope: CLOUD_PLATFORM_SCOPE }), signer), now),
    idToken: (audience) => oauth.keyIdToken(tokenUrl, assertion({ target_audience: audience }), signer),
    iapAccessToken: () => oauth.keyAccessToken(tokenUrl, assertion({ scope: IAP_ACCESS_SCOPES.join(" ") }), signer),
    signJwt: (claims) => Promise.resolve(sign(claims))
  };
}
var ASSERTION_LIFETIME_S;
var init_service_account_key = __esm({
  "src/credentials/service-account-key.ts"() {
    "use strict";
    init_answer();
    init_jwt();
    init_secrets();
    init_credential();
    ASSERTION_LIFETIME_S = 3600;
  }
});

// src/google/github-oidc.ts
async function fetchGitHubOidcToken(http2, requestUrl, requestToken, audience) {
  const url = new URL(requestUrl);
  url.searchParams.set("audience", audience);
  const answer = await http2.json({
    failure: googleFailure,
    what: "GitHub OIDC token request",
    method: "GET",
    url: url.toString(),
    headers: { authorization: `Bearer ${requestToken}`, accept: "application/json" },
    remedy: ({ status }) => status === 401 || status === 403 ? "Fix: the runner's token for OIDC requests was refused. Check that the job has `permissions: id-token: write`, and that the step runs in the job that was given it (tokens do not cross jobs)." : void 0
  });
  return secretField(answer, "value", "GitHub's OIDC token endpoint");
}
var init_github_oidc = __esm({
  "src/google/github-oidc.ts"() {
    "use strict";
    init_answer();
    init_failure();
  }
});

// src/credentials/workload-identity.ts
function workloadIdentityCredential(source, endpoints, http2, env, now = Date.now) {
  const poolResource = `projects/${source.projectNumber}/locations/global/workloadIdentityPools/${source.pool}`;
  const repository = env["GITHUB_REPOSITORY"] || "OWNER/REPO";
  return {
    principal: void 0,
    member: `principalSet://${endpoints.iamHost}/${poolResource}/attribute.repository/${repository}`,
    federated: true,
    accessToken: renewing(async () => {
      const subjectToken = await fetchGitHubOidcToken(http2, source.oidcRequestUrl, source.oidcRequestToken, source.oidcAudience);
      return exchangeAtSts(
        http2,
        {
          tokenUrl: `${endpoints.sts}/token`,
          audience: `//${endpoints.iamHost}/${source.provider}`,
          subjectToken,
          subjectTokenType: "urn:ietf:params:oauth:token-type:jwt",
          expectedAudience: source.oidcAudience,
          expectedIssuer: "https://token.actions.githubusercontent.com",
          audienceInput: "workload_identity_audience"
        },
        now
      );
    }, now)
  };
}
var init_workload_identity = __esm({
  "src/credentials/workload-identity.ts"() {
    "use strict";
    init_github_oidc();
    init_sts();
    init_credential();
  }
});

// src/credentials/index.ts
function createCredential(source, clients) {
  const { endpoints, http: http2, oauth, iam, env, now } = clients;
  switch (source.kind) {
    case "service_account_key":
      return serviceAccountKeyCredential(source, endpoints, oauth, now);
    case "workload_identity":
      return workloadIdentityCredential(source, endpoints, http2, env, now);
    case "metadata":
      return metadataCredential(source, http2, now);
    case "refresh_token":
      return refreshTokenCredential(source, endpoints, oauth, now);
    case "external_account":
      return externalAccountCredential(source, endpoints, http2, iam, now);
    case "impersonated_service_account":
      return impersonate(
        createCredential(source.inner, clients),
        { serviceAccount: source.serviceAccount, delegates: source.delegates, origin: source.origin },
        iam,
        now
      );
  }
}
function describeSource(source) {
  switch (source.kind) {
    case "service_account_key":
      return `service-account key for ${source.key.clientEmail} (${source.origin})`;
    case "workload_identity":
      return `Workload Identity Federation through ${source.provider}`;
    case "metadata":
      return `${source.origin} (no credential is given)`;
    case "refresh_token":
      return `OAuth refresh token (${source.origin})`;
    case "external_account":
      return `external account through ${source.audience.replace(/^\/\/iam\.[^/]+\//, "")}${source.impersonate ? ` as ${source.impersonate}` : ""} (${source.origin})`;
    case "impersonated_service_account":
      return `${describeSource(source.inner)}, impersonating ${source.serviceAccount} (${source.origin})`;
  }
}
var init_credentials = __esm({
  "src/credentials/index.ts"() {
    "use strict";
    init_external_account();
    init_impersonation();
    init_metadata2();
    init_refresh_token();
    init_service_account_key();
    init_workload_identity();
    init_impersonation();
  }
});

// src/tokens/signed-jwt.ts
async function mintSignedJwt(config, credential, iam, now = Date.now) {
  const { audience, lifetimeSeconds } = config;
  const signer = await signerOf(credential, config, iam, now);
  const iat = Math.floor(now() / 1e3);
  const token = await signer.sign({ iss: signer.email, sub: signer.email, aud: audience, iat, exp: iat + lifetimeSeconds });
  return checkSignedJwt(token, { audience, signer: signer.email, lifetimeSeconds, now: now() });
}
async function signerOf(credential, config, iam, now) {
  if (credential.signJwt && credential.principal) return { email: credential.principal, sign: credential.signJwt };
  await credential.accessToken();
  const email = credential.principal;
  if (!email) throw new ActionError(`No service account to sign the JWT as: set ${config.nameOf("service_account")}.`);
  return { email, sign: impersonate(credential, { serviceAccount: email, delegates: [] }, iam, now).signJwt };
}
var init_signed_jwt = __esm({
  "src/tokens/signed-jwt.ts"() {
    "use strict";
    init_credentials();
    init_errors();
    init_check();
  }
});

// src/tokens/mint.ts
async function mintToken(config, credential, iam, { info: info2, warning: warning2 }, now = Date.now) {
  if (!config.includeEmail && config.tokenType === "id_token") {
    warning2(
      `${config.nameOf("include_email")} is false: IAP refuses ID tokens without an email claim ("JWT 'email' claim isn't a string").`
    );
  }
  const minted = await MINTERS[config.tokenType](config, credential, iam, now);
  info2(describeMinted(minted, now()));
  const secondsLeft = Math.round((minted.expiresAt.getTime() - now()) / 1e3);
  if (secondsLeft < EXPIRY_WARNING_S) {
    const fix = config.tokenType === "signed_jwt" ? `Raise ${config.nameOf("lifetime")}, or check` : "Check";
    warning2(
      `The token expires in ${secondsLeft} s, before most jobs are done with it. ${fix} the runner's clock (the token's exp is ${minted.expiresAt.toISOString()}).`
    );
  }
  return minted;
}
var EXPIRY_WARNING_S, MINTERS;
var init_mint = __esm({
  "src/tokens/mint.ts"() {
    "use strict";
    init_check();
    init_access_token();
    init_id_token();
    init_signed_jwt();
    EXPIRY_WARNING_S = 300;
    MINTERS = {
      id_token: (config, credential, _iam, now) => mintIdToken(config, credential, now),
      signed_jwt: mintSignedJwt,
      access_token: (config, credential, _iam, now) => mintAccessToken(config, credential, now)
    };
  }
});

// src/access-fallback.ts
function accessTokenFallback({ config, credential, iam, env, report, now }) {
  if (!config.auto || config.tokenType !== "id_token" || !credential.iapAccessToken) return void 0;
  if (cannotMintAccessToken(config.source, config.serviceAccount, env)) return void 0;
  const variant = { ...config, tokenType: "access_token", audience: "", audienceFrom: void 0, auto: false };
  let chosen;
  return {
    mint: () => mintToken(variant, credential, iam, report, now),
    choose: (why) => {
      chosen = variant;
      report.info(`Token: ${config.nameOf("token_type")} auto: access_token, because ${why}`);
    },
    get chosen() {
      return chosen;
    }
  };
}
async function tryAccessToken(fallback, http2, url, original, why) {
  let minted;
  try {
    minted = await fallback.mint();
  } catch (error2) {
    throw withNote(original, `An access token, token_type auto's last way, could not be minted either: ${explain(error2)}`);
  }
  const trial = await sendThroughIap(http2, url, minted.token, "Access token trial");
  if (!trial.accepted) throw withNote(original, `An access token was tried once too, at ${displayUrl(url)}: ${trialWords(trial, minted)}`);
  fallback.choose(`${why}; IAP at ${displayUrl(url)} took an access token (it answered ${trial.status ?? ""}).`);
  return minted;
}
function trialWords(trial, minted) {
  if (trial.status === null) return `no answer (${trial.failure ?? "unknown error"}).`;
  if (trial.refusal === "parse") return NO_ACCESS_TOKENS;
  if (!trial.refusal) return `the app answered ${trial.status}.`;
  return `IAP answered ${trial.status}: ${explainRefusal(trial.refusal, "trial", { header: "authorization", principal: minted.principal, kind: "access_token" })}`;
}
function withNote(original, note) {
  if (!(original instanceof ActionError) && !(original instanceof ApiError)) return original;
  const { remedy } = original;
  return new ActionError(original.message, remedy ? `${remedy}
${note}` : note);
}
var init_access_fallback = __esm({
  "src/access-fallback.ts"() {
    "use strict";
    init_iap_access();
    init_errors();
    init_refusals();
    init_trial();
    init_mint();
    init_urls();
  }
});

// src/google/iam-credentials.ts
function resourceName(email) {
  return `projects/-/serviceAccounts/${email}`;
}
function iamRemedy(failure, caller, target, expected = PERMISSIONS.generateIdToken) {
  const { status, reason, message } = failure;
  if (reason === "SERVICE_DISABLED" || /has not been used in project|is disabled/i.test(message)) {
    return "Fix: enable the IAM Service Account Credentials API in the service account's project: gcloud services enable iamcredentials.googleapis.com --project=PROJECT_ID";
  }
  if (status === 404) {
    return `Fix: the service account ${target.serviceAccount} does not exist; check ${target.origin ?? "the service account (and delegates)"}.`;
  }
  if (status === 401 && (failure.reason === "ACCESS_TOKEN_TYPE_UNSUPPORTED" || caller.federated && expected === PERMISSIONS.signJwt)) {
    return "Fix: a federated token cannot call this method; iap-token should have exchanged it for the service account's own access token first. Please report this.";
  }
  if (status === 401) {
    return "Fix: the caller's access token was refused; the credential may have been revoked or the token expired.";
  }
  if (status !== 403) return void 0;
  const permission = failure.permission ?? expected;
  if (/scope/i.test(failure.message) || failure.reason === "ACCESS_TOKEN_SCOPE_INSUFFICIENT") {
    return "Fix: the caller's access token lacks the cloud-platform scope. A refresh token must be issued with the https://www.googleapis.com/auth/cloud-platform scope; a VM needs the cloud-platform access scope.";
  }
  if (target.delegates.length === 0 && caller.principal === target.serviceAccount) {
    return [
      `Fix: ${target.serviceAccount} lacks ${permission} on itself: a service account does not hold the token creator role on itself until granted. Grant it:`,
      grantCommand(target.serviceAccount, `serviceAccount:${target.serviceAccount}`, TOKEN_CREATOR)
    ].join("\n");
  }
  if (target.delegates.length === 0) {
    const role = caller.federated ? WORKLOAD_IDENTITY_USER : permission === "iam.serviceAccounts.getOpenIdToken" ? OPENID_TOKEN_CREATOR : TOKEN_CREATOR;
    return [
      `Fix: the caller ${caller.member} lacks ${permission} on ${target.serviceAccount} (or that account does not exist). Grant the caller ${role} on it:`,
      grantCommand(target.serviceAccount, caller.member, role),
      ...caller.federated ? [
        "(the member above assumes the provider maps attribute.repository=assertion.repository; IAM grants can take a few minutes to apply)"
      ] : ["(IAM grants can take a few minutes to apply)"]
    ].join("\n");
  }
  const chain = [caller.member, ...target.delegates, target.serviceAccount];
  const hops = chain.slice(0, -1).map((from, i) => {
    const to = chain[i + 1] ?? target.serviceAccount;
    const member = i === 0 ? from : `serviceAccount:${from}`;
    return grantCommand(to, member, TOKEN_CREATOR);
  });
  return [
    `Fix: a hop in the delegation chain lacks ${permission}. Each account must hold ${TOKEN_CREATOR} on the next one (${chain.join(" → ")}):`,
    ...hops
  ].join("\n");
}
function grantCommand(serviceAccount, member, role) {
  return `  gcloud iam service-accounts add-iam-policy-binding ${serviceAccount} --member='${member}' --role=${role}`;
}
var ACCESS_TOKEN_LIFETIME_S, IamCredentials, PERMISSIONS, TOKEN_CREATOR, OPENID_TOKEN_CREATOR, WORKLOAD_IDENTITY_USER;
var init_iam_credentials = __esm({
  "src/google/iam-credentials.ts"() {
    "use strict";
    init_answer();
    init_failure();
    ACCESS_TOKEN_LIFETIME_S = 3600;
    IamCredentials = class {
      #http;
      #base;
      #now;
      constructor(http2, base, now = Date.now) {
        this.#http = http2;
        this.#base = base;
        this.#now = now;
      }
      /** `generateIdToken`: a Google-signed ID token for the service account. */
      async generateIdToken(caller, accessToken, target, audience, includeEmail) {
        const answer = await this.#call(caller, accessToken, target, "generateIdToken", { audience, includeEmail });
        return secretField(answer, "token", "IAM Credentials generateIdToken");
      }
      /** `generateAccessToken`: an access token for the service account (cloud-platform unless asked), for an hour. */
      async generateAccessToken(caller, accessToken, target, scopes = [CLOUD_PLATFORM_SCOPE]) {
        const answer = await this.#call(caller, accessToken, target, "generateAccessToken", {
          scope: scopes,
          lifetime: `${ACCESS_TOKEN_LIFETIME_S}s`
        });
        const token = secretField(answer, "accessToken", "IAM Credentials generateAccessToken");
        const expireTime = typeof answer["expireTime"] === "string" ? Date.parse(answer["expireTime"]) : NaN;
        return { token, expiresAt: Number.isNaN(expireTime) ? this.#now() + ACCESS_TOKEN_LIFETIME_S * 1e3 : expireTime };
      }
      /** `signJwt`: the claims signed by one of the service account's Google-managed keys. */
      async signJwt(caller, accessToken, target, claims) {
        const answer = await this.#call(caller, accessToken, target, "signJwt", { payload: JSON.stringify(claims) });
        return secretField(answer, "signedJwt", "IAM Credentials signJwt");
      }
      #call(caller, accessToken, target, method, body) {
        const delegates = target.delegates.map(resourceName);
        return this.#http.json({
          failure: googleFailure,
          what: `IAM Credentials ${method} for ${target.serviceAccount}`,
          method: "POST",
          // The `-` project is required: Google infers the project from the account.
          url: `${this.#base}/${resourceName(target.serviceAccount)}:${method}`,
          headers: { authorization: `Bearer ${accessToken}`, "content-type": "application/json", accept: "application/json" },
          body: JSON.stringify(delegates.length ? { ...body, delegates } : body),
          remedy: (failure) => iamRemedy(failure, caller, target, PERMISSIONS[method])
        });
      }
    };
    PERMISSIONS = {
      generateIdToken: "iam.serviceAccounts.getOpenIdToken",
      generateAccessToken: "iam.serviceAccounts.getAccessToken",
      signJwt: "iam.serviceAccounts.signJwt"
    };
    TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator";
    OPENID_TOKEN_CREATOR = "roles/iam.serviceAccountOpenIdTokenCreator";
    WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser";
  }
});

// src/google/oauth.ts
function emailOf(idToken) {
  const email = decodeJwt(idToken)?.claims["email"];
  return typeof email === "string" ? email : void 0;
}
function keyGrantRemedy({ code, message }, { email, origin }) {
  if (code === "invalid_grant" && /signature/i.test(message)) {
    return `Fix: the key in ${origin} was deleted, disabled or replaced. Create a new key for ${email} (gcloud iam service-accounts keys create key.json --iam-account=${email}) and use it in place of the old one (${origin}).`;
  }
  if (code === "invalid_grant" && /timeframe|short-lived|\biat\b|\bexp\b/i.test(message)) {
    return "Fix: the runner's clock is off by more than a few minutes; sync it (NTP) on a self-hosted runner.";
  }
  if (code === "invalid_grant" && /account not found|disabled|invalid_account/i.test(message)) {
    return `Fix: the service account ${email} does not exist or is disabled; enable it or use a key of an existing one.`;
  }
  if (code === "invalid_client" || code === "unauthorized_client") {
    return `Fix: the key for ${email} is not accepted; check that the service account is enabled and the key not revoked.`;
  }
  return void 0;
}
function refreshRemedy({ code }, grant) {
  if (code === "invalid_grant") {
    return `Fix: the refresh token was revoked or has expired (refresh tokens of OAuth apps in "Testing" status expire after 7 days; a password change revokes them). Sign in again to get a new one and update ${grant.origin}.`;
  }
  if (code === "invalid_client" || code === "unauthorized_client") {
    return `Fix: the OAuth client was not recognised: check ${grant.clientOrigin} are the desktop client that issued the refresh token.`;
  }
  if (code === "invalid_audience" || code === "invalid_request") {
    return "Fix: Google refused the audience: it must be the OAuth client ID IAP uses for the app, in the same project as the desktop client, or a client on the app's programmaticClients allowlist.";
  }
  return void 0;
}
var JWT_BEARER, FROM, OAuthTokenEndpoint;
var init_oauth = __esm({
  "src/google/oauth.ts"() {
    "use strict";
    init_jwt();
    init_answer();
    init_failure();
    JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    FROM = "The OAuth token endpoint";
    OAuthTokenEndpoint = class {
      #http;
      #now;
      constructor(http2, now = Date.now) {
        this.#http = http2;
        this.#now = now;
      }
      /** JWT-bearer grant with `target_audience`: a Google-signed ID token for the key's own account, no IAM role needed. */
      async keyIdToken(tokenUrl, assertion, signer) {
        const answer = await this.#post(
          `ID token for ${signer.email} (OAuth JWT-bearer grant)`,
          tokenUrl,
          {
            grant_type: JWT_BEARER,
            assertion
          },
          (failure) => keyGrantRemedy(failure, signer)
        );
        return secretField(answer, "id_token", FROM);
      }
      /** JWT-bearer grant with `scope`: an access token for the key's own account. */
      async keyAccessToken(tokenUrl, assertion, signer) {
        const answer = await this.#post(
          `Access token for ${signer.email} (OAuth JWT-bearer grant)`,
          tokenUrl,
          {
            grant_type: JWT_BEARER,
            assertion
          },
          (failure) => keyGrantRemedy(failure, signer)
        );
        return { token: secretField(answer, "access_token", FROM), expiresAt: expiresAt(answer, this.#now()) };
      }
      /** Refresh grant with `audience` (as IAP's documentation does): an ID token for it in one request. */
      async refreshIdToken(base, grant, audience) {
        const answer = await this.#refresh(base, grant, "ID token from the refresh token (OAuth refresh grant)", { audience });
        if (typeof answer["access_token"] === "string") secretField(answer, "access_token", FROM);
        return secretField(answer, "id_token", `${FROM} (was the refresh token granted the openid scope?)`);
      }
      /**
       * Refresh grant without an audience: an access token, the scopes Google says it holds ("" when the answer does not
       * say), and the user's email when the answer names it.
       */
      async refreshAccessToken(base, grant) {
        const answer = await this.#refresh(base, grant, "Access token from the refresh token (OAuth refresh grant)", {});
        const email = typeof answer["id_token"] === "string" ? emailOf(secretField(answer, "id_token", FROM)) : void 0;
        const accessToken = { token: secretField(answer, "access_token", FROM), expiresAt: expiresAt(answer, this.#now()) };
        return { accessToken, scope: typeof answer["scope"] === "string" ? answer["scope"] : "", email };
      }
      /** Authorization-code grant with PKCE, for a sign-in that came back to a loopback redirect. */
      async exchangeCode(base, exchange) {
        const answer = await this.#post(
          "Code exchange (OAuth authorization_code grant)",
          `${base}/token`,
          {
            grant_type: "authorization_code",
            code: exchange.code,
            redirect_uri: exchange.redirectUri,
            client_id: exchange.clientId,
            client_secret: exchange.clientSecret,
            code_verifier: exchange.verifier
          },
          (failure) => failure.code === "invalid_client" ? `Fix: check ${exchange.clientOrigin}: a client of type "Desktop app".` : void 0
        );
        if (typeof answer["access_token"] === "string") secretField(answer, "access_token", FROM);
        const refreshToken = typeof answer["refresh_token"] === "string" ? secretField(answer, "refresh_token", FROM) : void 0;
        const email = typeof answer["id_token"] === "string" ? emailOf(secretField(answer, "id_token", FROM)) : void 0;
        return { refreshToken, email };
      }
      #refresh(base, grant, what, extra) {
        return this.#post(
          what,
          `${base}/token`,
          {
            grant_type: "refresh_token",
            client_id: grant.clientId,
            client_secret: grant.clientSecret,
            refresh_token: grant.refreshToken,
            ...extra
          },
          (failure) => refreshRemedy(failure, grant)
        );
      }
      #post(what, url, form, remedy) {
        return this.#http.json({
          failure: googleFailure,
          what,
          method: "POST",
          url,
          headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
          body: new URLSearchParams(form).toString(),
          remedy
        });
      }
    };
  }
});

// src/http/transport.ts
async function proxyAgent(url) {
  const { HttpClient: HttpClient2 } = await Promise.resolve().then(() => (init_lib(), lib_exports));
  return new HttpClient2("iap-token").getAgent(url);
}
var MAX_BODY_BYTES, nodeTransport;
var init_transport = __esm({
  "src/http/transport.ts"() {
    "use strict";
    init_proxy();
    MAX_BODY_BYTES = 1 << 20;
    nodeTransport = async (request, signal2) => {
      const url = new URL(request.url);
      const { request: send } = url.protocol === "https:" ? process.getBuiltinModule("node:https") : process.getBuiltinModule("node:http");
      const agent = !request.direct && getProxyUrl(url) ? await proxyAgent(request.url) : void 0;
      return new Promise((resolve, reject) => {
        const body = request.body === void 0 ? void 0 : Buffer.from(request.body);
        const headers = { "user-agent": "iap-token", ...request.headers };
        if (body) headers["content-length"] = String(body.length);
        const req = send(url, { method: request.method, headers, signal: signal2, ...agent ? { agent } : {} }, (res) => {
          const chunks = [];
          let size = 0;
          const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") });
          res.on("data", (chunk) => {
            chunks.push(chunk.subarray(0, Math.max(0, MAX_BODY_BYTES - size)));
            size += chunk.length;
            if (size >= MAX_BODY_BYTES) {
              done();
              req.destroy();
            }
          });
          res.on("end", done);
          res.on("error", reject);
        });
        req.on("error", reject);
        const onAbort = () => {
          req.destroy(signal2.reason);
          reject(signal2.reason);
        };
        if (signal2.aborted) onAbort();
        else signal2.addEventListener("abort", onAbort, { once: true });
        req.on("close", () => signal2.removeEventListener("abort", onAbort));
        req.end(body);
      });
    };
  }
});

// src/backoff.ts
function jitteredBackoff(attempt, baseMs, maxMs, random) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + random() * ceiling / 2);
}
var init_backoff = __esm({
  "src/backoff.ts"() {
    "use strict";
  }
});

// src/http/client.ts
function apiError(request, failure, attempts) {
  return new ApiError(request.what, failure, attempts, request.remedy?.(failure));
}
function seconds(ms) {
  return (Math.max(0, ms) / 1e3).toFixed(1);
}
function retryAfterMs(header, now) {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return void 0;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1e3;
  const date = Date.parse(value);
  return Number.isNaN(date) ? void 0 : Math.max(0, date - now);
}
var DEFAULT_POLICY, Http;
var init_client = __esm({
  "src/http/client.ts"() {
    "use strict";
    init_errors();
    init_json();
    init_failures();
    init_transport();
    init_backoff();
    DEFAULT_POLICY = {
      attempts: 5,
      timeoutMs: 1e4,
      budgetMs: 3e4,
      baseDelayMs: 500,
      maxDelayMs: 8e3,
      retryable: (response) => isRetryableStatus(response.status),
      describe: (response) => `HTTP ${response.status}`,
      retryableFailure: (failure) => isRetryableNetworkFailure(failure)
    };
    Http = class {
      #transport;
      #sleep;
      #random;
      #now;
      #log;
      #policy;
      constructor(options = {}) {
        const { transport, sleep, random, now, log: log2, ...policy } = options;
        this.#transport = transport ?? nodeTransport;
        this.#sleep = sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
        this.#random = random ?? Math.random;
        this.#now = now ?? Date.now;
        this.#log = log2 ?? (() => void 0);
        this.#policy = { ...DEFAULT_POLICY, ...policy };
      }
      /** Sends the request, retrying what can heal. Resolves with the last response, whatever its status. */
      async send(request) {
        const started = this.#now();
        const policy = { ...this.#policy, ...request.retry };
        for (let attempt = 1; ; attempt++) {
          let response;
          let failure;
          try {
            response = await this.#transport(request, AbortSignal.timeout(policy.timeoutMs));
          } catch (error2) {
            failure = networkFailure(error2, request, policy.timeoutMs);
          }
          const retryable = response ? policy.retryable(response) : failure !== void 0 && policy.retryableFailure(failure);
          const delay = this.#backoff(attempt, response, policy);
          const left = policy.budgetMs - (this.#now() - started);
          if (!retryable || attempt >= policy.attempts || delay >= left) {
            if (response) return { response, attempts: attempt };
            throw apiError(request, failure ?? { status: 0, message: "no answer" }, attempt);
          }
          const why = response ? policy.describe(response) : failure?.message ?? "no answer";
          const of = policy.attempts <= 10 ? ` of ${policy.attempts}` : "";
          this.#log(`${request.what}: ${why} (attempt ${attempt}${of}); retrying in ${seconds(delay)} s (${seconds(left)} s left)`);
          await this.#sleep(delay);
        }
      }
      /** Sends the request and returns a 2xx answer's body; anything else becomes an `ApiError` quoting the service. */
      async text(request) {
        return (await this.#ok(request)).response.body;
      }
      /** Sends the request and parses a 2xx JSON answer; anything else becomes an `ApiError` quoting the service. */
      async json(request) {
        const { response, attempts } = await this.#ok(request);
        const parsed = parseJsonObject(response.body);
        if (!parsed) {
          throw apiError(
            request,
            { status: response.status, message: `the response is not a JSON object (${describeBody(response)})` },
            attempts
          );
        }
        return parsed;
      }
      /** Sends the request and returns a 2xx answer whole (status, headers, body); anything else becomes an `ApiError`. */
      async ok(request) {
        return (await this.#ok(request)).response;
      }
      async #ok(request) {
        const sent = await this.send(request);
        if (sent.response.status < 200 || sent.response.status > 299) {
          throw apiError(request, request.failure(sent.response), sent.attempts);
        }
        return sent;
      }
      /**
       * Jitter over an exponential ceiling, or longer when the server's Retry-After asks for more. A Retry-After beyond
       * `maxDelayMs` is an answer, not a wait: Infinity, and the caller stops retrying.
       */
      #backoff(attempt, response, policy) {
        const jittered = jitteredBackoff(attempt, policy.baseDelayMs, policy.maxDelayMs, this.#random);
        const retryAfter = response ? retryAfterMs(response.headers["retry-after"], this.#now()) : void 0;
        if (retryAfter === void 0) return jittered;
        return retryAfter > policy.maxDelayMs ? Infinity : Math.max(retryAfter, jittered);
      }
    };
  }
});

// src/iap/probe.ts
async function probeIap(http2, url, options = {}) {
  let response;
  let attempts;
  let failure;
  try {
    ({ response, attempts } = await http2.send({
      what: `IAP check of ${displayUrl(url)} (no token)`,
      method: "GET",
      url,
      ...options.headers ? { headers: options.headers } : {},
      retry: { attempts: 3, timeoutMs: 1e4, budgetMs: 2e4, ...options.retry }
    }));
  } catch (error2) {
    if (!(error2 instanceof ApiError)) throw error2;
    attempts = error2.attempts;
    failure = error2.failure.message;
  }
  if (!response) return { status: null, from: null, clientId: void 0, failure, attempts, response };
  const from = answeredBy(response.headers);
  const signIn = from === "iap" ? googleSignIn(response, url) : void 0;
  const clientId = signIn?.searchParams.get("client_id") ?? "";
  return {
    status: response.status,
    from,
    clientId: CLIENT_ID.test(clientId) ? clientId : void 0,
    failure: void 0,
    attempts,
    response
  };
}
function googleSignIn(response, base) {
  const location = response.headers["location"];
  if (response.status < 300 || response.status > 399 || typeof location !== "string") return void 0;
  let signIn;
  try {
    signIn = new URL(location, base);
  } catch {
    return void 0;
  }
  return signIn.protocol === "https:" && signIn.hostname === "accounts.google.com" ? signIn : void 0;
}
var CLIENT_ID;
var init_probe = __esm({
  "src/iap/probe.ts"() {
    "use strict";
    init_errors();
    init_urls();
    init_answers();
    CLIENT_ID = /^[\w.-]+\.apps\.googleusercontent\.com$/;
  }
});

// src/pipeline.ts
function createMinter(config, { env, report, http: http2 = new Http({ log: report.info }), now = Date.now, credential: given }) {
  const iam = new IamCredentials(http2, config.endpoints.iamcredentials, now);
  const credential = given ?? callerCredential(config, env, http2, iam, now);
  const { serviceAccount } = config;
  report.info(`Credential: ${describeSource(config.source)}${serviceAccount ? `; minting for ${serviceAccount}` : ""}.`);
  if (config.choice) report.info(`Token: ${config.choice}`);
  let resolved;
  const ready = () => resolved ??= withFoundAudience(config, http2, report).catch((error2) => {
    resolved = void 0;
    throw error2;
  });
  const fallback = accessTokenFallback({ config, credential, iam, env, report, now });
  return {
    credential,
    http: http2,
    fallback,
    mint: async () => {
      if (fallback?.chosen) return mintToken(fallback.chosen, credential, iam, report, now);
      const resolvedConfig = await ready();
      try {
        return await mintToken(resolvedConfig, credential, iam, report, now);
      } catch (error2) {
        if (!config.audienceFrom) throw config.signedFromUrl ? signingRefused(error2, config) : error2;
        const refused = foundAudienceRefused(error2, config);
        if (!fallback || refused === error2) throw refused;
        const why = `Google will not mint an ID token for the OAuth client IAP's sign-in redirect names (${resolvedConfig.audience}: most likely Google's managed client)`;
        return tryAccessToken(fallback, http2, new URL(config.audienceFrom), refused, why);
      }
    }
  };
}
function signingRefused(error2, config) {
  if (!(error2 instanceof ApiError) || error2.failure.status !== 403) return error2;
  const other = `Or: ${config.nameOf("token_type")} auto chose a signed JWT because only the app's URL was given; give ${config.nameOf("audience")} the app's OAuth client ID to mint an ID token instead, which needs no signing permission (iap-token doctor URL names the client and checks both).`;
  return new ActionError(error2.message, error2.remedy ? `${error2.remedy}
${other}` : other);
}
function foundAudienceRefused(error2, config) {
  if (!(error2 instanceof ApiError) || error2.failure.code !== "invalid_audience") return error2;
  const app = new URL(config.audienceFrom ?? "");
  return new ActionError(
    error2.message,
    `Fix: The audience was found from IAP's sign-in redirect at ${displayUrl(app)}, and Google will not mint your ID token for it: it is most likely Google's managed OAuth client, which no programmatic ID token can be for. Use a signed JWT instead: set ${config.nameOf("service_account")} to a service account you may impersonate (roles/iam.serviceAccountTokenCreator), which signs for ${app.origin}/*; or give ${config.nameOf("audience")} an OAuth client of your own that the app's programmaticClients lists.`
  );
}
function callerCredential(config, env, http2, iam, now) {
  const oauth = new OAuthTokenEndpoint(http2, now);
  const source = createCredential(config.source, { endpoints: config.endpoints, http: http2, oauth, iam, env, now });
  const { serviceAccount, delegates } = config;
  if (!serviceAccount) return source;
  const origin = delegates.length ? `${config.nameOf("service_account")} and ${config.nameOf("delegates")}` : config.nameOf("service_account");
  return impersonate(source, { serviceAccount, delegates, origin }, iam, now);
}
async function withFoundAudience(config, http2, report) {
  if (!config.audienceFrom) return config;
  const shown = displayUrl(config.audienceFrom);
  const probe = await probeIap(http2, config.audienceFrom);
  if (!probe.clientId) {
    const answered = probe.status === null ? `did not answer (${probe.failure ?? "no answer"})` : `answered ${probe.status}${probe.from === "iap" ? " from IAP" : ""} without IAP's sign-in redirect to accounts.google.com`;
    throw new ActionError(
      `No audience was given, and none could be found: ${shown} ${answered}, so it names no OAuth client. Give ${config.nameOf("audience")} (the OAuth client ID IAP uses for the app), or check that ${shown} is the app behind IAP.`
    );
  }
  report.info(
    `Audience: ${probe.clientId}, the OAuth client IAP's sign-in redirect at ${shown} names. If IAP refuses ID tokens for it, the app is on Google's managed client: a signed JWT (${config.nameOf("service_account")}) is then the way, or an allowlisted client of your own.`
  );
  return { ...config, audience: probe.clientId, audienceFrom: void 0 };
}
var init_pipeline = __esm({
  "src/pipeline.ts"() {
    "use strict";
    init_access_fallback();
    init_credentials();
    init_iam_credentials();
    init_oauth();
    init_client();
    init_mint();
    init_probe();
    init_errors();
    init_urls();
  }
});

// src/printable.ts
function printable(text2) {
  return text2.replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, " ");
}
var init_printable = __esm({
  "src/printable.ts"() {
    "use strict";
  }
});

// src/doctor/report.ts
var report_exports = {};
__export(report_exports, {
  renderReport: () => renderReport
});
function renderReport(report) {
  const lines = [`iap-token doctor ${report.url}`, ""];
  for (const [index, layer] of report.layers.entries()) {
    lines.push(`${index + 1}. ${layer.title}`);
    for (const check of layer.checks) lines.push(...indent(`${MARK[check.status]} ${check.text}`, "   ", "     "));
    lines.push("");
  }
  lines.push(`Verdict: ${report.verdict.text}`);
  if (report.problems.length) {
    lines.push("", `Problems (${report.problems.length}):`);
    for (const [index, problem] of report.problems.entries()) {
      lines.push(...indent(`${index + 1}. ${problem.title}: ${problem.why}`, "", "   "));
      if (problem.gcloud) lines.push("   gcloud:", ...problem.gcloud.split("\n").map((line) => `     ${line}`));
      if (problem.terraform) lines.push("   Terraform:", ...problem.terraform.split("\n").map((line) => `     ${line}`));
    }
  }
  return printable(lines.join("\n"));
}
function indent(text2, first, rest) {
  return text2.split("\n").map((line, index) => `${index === 0 ? first : rest}${line}`);
}
var MARK;
var init_report = __esm({
  "src/doctor/report.ts"() {
    "use strict";
    init_printable();
    MARK = { ok: "✓", problem: "✗", info: "·", skipped: "–" };
  }
});

// src/iap/grants.ts
function memberOf(email) {
  return email.endsWith(".gserviceaccount.com") ? `serviceAccount:${email}` : `user:${email}`;
}
function iapServiceAgent(projectNumber) {
  const number = projectNumber && /^\d+$/.test(projectNumber) ? projectNumber : "PROJECT_NUMBER";
  return `serviceAccount:service-${number}@gcp-sa-iap.iam.gserviceaccount.com`;
}
function accessorGrant(resourceFlags, member) {
  return `gcloud iap web add-iam-policy-binding ${resourceFlags} --member=${member} --role=${ACCESSOR}`;
}
function invokerGrant(service, region, projectNumber) {
  return `gcloud run services add-iam-policy-binding ${service} --region=${region} --member=${iapServiceAgent(projectNumber)} --role=${INVOKER}`;
}
var ACCESSOR, INVOKER;
var init_grants = __esm({
  "src/iap/grants.ts"() {
    "use strict";
    ACCESSOR = "roles/iap.httpsResourceAccessor";
    INVOKER = "roles/run.invoker";
  }
});

// src/doctor/resource.ts
function describeResource(url, named) {
  const host = url.hostname.toLowerCase();
  if (named) return fromName(named);
  const run2 = RUN_APP.exec(host);
  if (run2) {
    const [, service = "", project = "", region = ""] = run2;
    return {
      kind: "cloud-run",
      description: `a Cloud Run service (${service} in ${region}, project ${project}), from its run.app URL`,
      name: `projects/${project}/iap_web/cloud_run-${region}/services/${service}`,
      project,
      service,
      region
    };
  }
  if (host.endsWith(".run.app"))
    return unnamed(
      "cloud-run",
      "a Cloud Run service, from its run.app URL (an older URL form that names no project: give the IAP resource to read its settings)"
    );
  if (host.endsWith(".appspot.com"))
    return unnamed("app-engine", "an App Engine app, from its appspot.com URL (give the IAP resource to read its settings)");
  return unnamed(
    "backend-service",
    "a load balancer, most likely (a custom domain; IAP on its backend service): give the IAP resource to read its settings"
  );
}
function fromName(name) {
  const [, project, type = "", service] = NAMED.exec(name) ?? [];
  if (type.startsWith("cloud_run-")) {
    const region = type.slice("cloud_run-".length);
    return { kind: "cloud-run", description: `a Cloud Run service with IAP on it directly (${name})`, name, project, service, region };
  }
  if (type.startsWith("appengine-")) {
    const appId = type.slice("appengine-".length);
    return { kind: "app-engine", description: `an App Engine app (${name})`, name, project, service, region: void 0, appId };
  }
  if (type === "compute" || type.startsWith("compute-")) {
    const region = type.startsWith("compute-") ? type.slice("compute-".length) : void 0;
    return { kind: "backend-service", description: `a load balancer's backend service (${name})`, name, project, service, region };
  }
  return { kind: "unknown", description: `the IAP resource ${name}`, name, project, service, region: void 0 };
}
function unnamed(kind, description) {
  return { kind, description, name: void 0, project: void 0, service: void 0, region: void 0 };
}
function gcloudResourceFlags(resource) {
  const service = resource.service ?? "SERVICE";
  const project = resource.project ? ` --project=${resource.project}` : "";
  switch (resource.kind) {
    case "cloud-run":
      return `--resource-type=cloud-run --service=${service} --region=${resource.region ?? "REGION"}${project}`;
    case "app-engine":
      return `--resource-type=app-engine --service=${resource.service ?? "default"}${project}`;
    case "backend-service":
      return `--resource-type=backend-services --service=${resource.service ?? "BACKEND_SERVICE"}${resource.region ? ` --region=${resource.region}` : ""}${project}`;
    case "unknown":
      return `--resource-type=backend-services --service=BACKEND_SERVICE${project}`;
  }
}
function terraformAccessor(resource, member) {
  const project = resource.project ?? "PROJECT_ID";
  const grant = { role: ACCESSOR, member };
  switch (resource.kind) {
    case "cloud-run":
      return hcl("google_iap_web_cloud_run_service_iam_member", {
        project,
        location: resource.region ?? "REGION",
        cloud_run_service_name: resource.service ?? "SERVICE",
        ...grant
      });
    case "app-engine":
      return hcl("google_iap_app_engine_service_iam_member", {
        project,
        app_id: resource.appId ?? "APP_ID",
        service: resource.service ?? "default",
        ...grant
      });
    default:
      if (resource.region) {
        return hcl("google_iap_web_region_backend_service_iam_member", {
          project,
          region: resource.region,
          web_region_backend_service: resource.service ?? "BACKEND_SERVICE",
          ...grant
        });
      }
      return hcl("google_iap_web_backend_service_iam_member", {
        project,
        web_backend_service: resource.service ?? "BACKEND_SERVICE",
        ...grant
      });
  }
}
function hcl(type, attributes, name = "iap_access") {
  const width = Math.max(...Object.keys(attributes).map((key) => key.length));
  const lines = Object.entries(attributes).map(([key, value]) => `  ${key.padEnd(width)} = ${JSON.stringify(value)}`);
  return [`resource "${type}" "${name}" {`, ...lines, "}"].join("\n");
}
var RUN_APP, NAMED;
var init_resource = __esm({
  "src/doctor/resource.ts"() {
    "use strict";
    init_grants();
    RUN_APP = /^([a-z0-9-]{1,63})-(\d{6,20})\.([a-z0-9-]{1,40})\.run\.app$/;
    NAMED = /^projects\/([^/]+)\/iap_web\/([^/]+)(?:\/services\/([^/]+))?$/;
  }
});

// src/doctor/fixes.ts
function noIapProblem(url, status, resource) {
  const cloudRun = resource.kind === "cloud-run";
  return {
    title: "IAP is not in front of the app",
    why: `${url} answered ${status} to a request without any credential, without IAP's mark or sign-in redirect. Either the URL is not the app behind IAP (a typo, a staging host), or IAP is off for it.`,
    gcloud: cloudRun ? `gcloud run services update ${resource.service ?? "SERVICE"} --region=${resource.region ?? "REGION"} --iap` : `gcloud iap web enable ${gcloudResourceFlags(resource)}`,
    terraform: cloudRun ? `resource "google_cloud_run_v2_service" "app" {
  # …
  iap_enabled = true
}` : `resource "google_compute_backend_service" "app" {
  # …
  iap {
    enabled = true
  }
}`
  };
}
function bypassProblem(url, status, resource) {
  const service = resource.service ?? "SERVICE";
  return {
    title: `A way around IAP: ${url}`,
    why: `${url} answered ${status} to a request without any credential, and not through IAP: anyone who finds it skips IAP. For a Cloud Run service behind a load balancer with IAP, allow only the load balancer's traffic in and no public invoker.`,
    gcloud: [
      `gcloud run services update ${service} --region=${resource.region ?? "REGION"} --ingress=internal-and-cloud-load-balancing`,
      `gcloud run services remove-iam-policy-binding ${service} --region=${resource.region ?? "REGION"} --member=allUsers --role=${INVOKER}`
    ].join("\n"),
    terraform: `resource "google_cloud_run_v2_service" "app" {
  # …
  ingress = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
}
# and no google_cloud_run_v2_service_iam_member with member = "allUsers"`
  };
}
function accessorProblem(principal, resource, refused) {
  const member = memberOf(principal);
  return {
    title: `No access through IAP for ${principal}`,
    why: refused ? `IAP accepted the token and refused ${principal} with 403: it lacks roles/iap.httpsResourceAccessor on this app, or a fresh grant has not propagated yet (about 2 minutes, sometimes 7 or more).` : `${member} does not hold roles/iap.httpsResourceAccessor in the app's IAP policy.`,
    gcloud: accessorGrant(gcloudResourceFlags(resource), member),
    terraform: terraformAccessor(resource, member)
  };
}
function behindProblem(resource) {
  if (resource.kind === "cloud-run") return invokerProblem(resource);
  return {
    title: "The app behind IAP refuses the caller",
    why: "IAP let the token through and the app answered 403 itself (not IAP's answer): the app checks the caller on its own (the X-Goog-IAP-JWT-Assertion header, the user's email), or a rule in front of it refuses.",
    gcloud: void 0,
    terraform: void 0
  };
}
function invokerProblem(resource) {
  const agent = iapServiceAgent(resource.project);
  return {
    title: "The service behind IAP refuses IAP",
    why: "IAP let the token through and the service behind it answered 403 (not IAP's answer). For Cloud Run with IAP, IAP's service agent needs roles/run.invoker on the service.",
    gcloud: invokerGrant(resource.service ?? "SERVICE", resource.region ?? "REGION", resource.project),
    terraform: hcl(
      "google_cloud_run_v2_service_iam_member",
      { name: resource.service ?? "SERVICE", location: resource.region ?? "REGION", role: INVOKER, member: agent },
      "iap_invoker"
    )
  };
}
function managedClientProblem(audience, ownClient, resource) {
  const yaml = `accessSettings:
  oauthSettings:
    programmaticClients:
    - YOUR_CLIENT_ID.apps.googleusercontent.com`;
  return {
    title: ownClient ? "IAP refuses ID tokens for its own sign-in client (Google's managed OAuth client)" : `IAP refuses ID tokens for ${audience}`,
    why: ownClient ? `The ID token was for ${audience}, the client IAP signs people in with, and IAP refused its audience: the app is on Google's managed OAuth client, which accepts programmatic ID tokens only for clients on programmaticClients. A signed JWT needs no client (give a service account to sign); or allowlist an OAuth client of your own and mint ID tokens for it.` : `${audience} is neither the OAuth client IAP uses for this app nor on its programmaticClients list.`,
    gcloud: `cat > iap-settings.yaml <<'YAML'
${yaml}
YAML
gcloud iap settings set iap-settings.yaml ${gcloudResourceFlags(resource)}`,
    terraform: `resource "google_iap_settings" "app" {
  name = "${resource.name ?? "projects/PROJECT_NUMBER/iap_web/compute/services/BACKEND_SERVICE_ID"}"
  access_settings {
    oauth_settings {
      programmatic_clients = ["YOUR_CLIENT_ID.apps.googleusercontent.com"]
    }
  }
}`
  };
}
function mintProblem(trial) {
  const kind = kindOf(trial.kind, "a");
  const [why = "", ...rest] = trial.why.split("\n");
  const gcloud = rest.find((line) => /^\s*gcloud /.test(line))?.trim();
  const grant = /gcloud iam service-accounts add-iam-policy-binding (\S+) --member='?([^'\s]+)'? --role=(\S+)/.exec(gcloud ?? "");
  return {
    title: `Could not mint ${kind}`,
    why: [why, ...rest.map((line) => /^\s*gcloud /.test(line) ? "the gcloud line below." : line.trim())].join(" "),
    gcloud,
    terraform: grant ? hcl(
      "google_service_account_iam_member",
      { service_account_id: `projects/-/serviceAccounts/${grant[1] ?? ""}`, role: grant[3] ?? "", member: grant[2] ?? "" },
      "token_creator"
    ) : void 0
  };
}
var init_fixes = __esm({
  "src/doctor/fixes.ts"() {
    "use strict";
    init_grants();
    init_check();
    init_resource();
  }
});

// src/google/iap-admin.ts
function objectAt(value, key) {
  const inner = value[key];
  return inner !== null && typeof inner === "object" && !Array.isArray(inner) ? inner : {};
}
function strings(value) {
  return Array.isArray(value) ? value.filter((item) => typeof item === "string") : [];
}
var CLIENT_ID2, IapAdmin;
var init_iap_admin = __esm({
  "src/google/iap-admin.ts"() {
    "use strict";
    init_failure();
    CLIENT_ID2 = /^[\w.-]{1,200}\.apps\.googleusercontent\.com$/;
    IapAdmin = class {
      #http;
      #base;
      constructor(http2, base) {
        this.#http = http2;
        this.#base = base;
      }
      async settings(accessToken, resource) {
        const answer = await this.#http.json({
          failure: googleFailure,
          what: `IAP settings of ${resource}`,
          method: "GET",
          url: `${this.#base}/${resource}:iapSettings`,
          headers: { authorization: `Bearer ${accessToken}`, accept: "application/json" },
          retry: { attempts: 2 },
          remedy: (failure) => failure.status === 403 ? `Reading IAP settings needs iap.webServices.getSettings on ${resource} (roles/iap.settingsAdmin).` : void 0
        });
        const oauth = objectAt(objectAt(answer, "accessSettings"), "oauthSettings");
        const clientId = typeof oauth["clientId"] === "string" && oauth["clientId"] ? oauth["clientId"] : void 0;
        const clients = strings(oauth["programmaticClients"]).filter((id) => CLIENT_ID2.test(id));
        return { clientId: clientId && CLIENT_ID2.test(clientId) ? clientId : void 0, programmaticClients: clients };
      }
      async iamPolicy(accessToken, resource) {
        const answer = await this.#http.json({
          failure: googleFailure,
          what: `IAP IAM policy of ${resource}`,
          method: "POST",
          url: `${this.#base}/${resource}:getIamPolicy`,
          headers: { authorization: `Bearer ${accessToken}`, "content-type": "application/json", accept: "application/json" },
          body: JSON.stringify({ options: { requestedPolicyVersion: 3 } }),
          retry: { attempts: 2 },
          remedy: (failure) => failure.status === 403 ? `Reading the IAP IAM policy needs iap.webServices.getIamPolicy on ${resource} (roles/iap.admin).` : void 0
        });
        const bindings = Array.isArray(answer["bindings"]) ? answer["bindings"] : [];
        return bindings.flatMap((binding) => {
          if (binding === null || typeof binding !== "object") return [];
          const { role, members, condition } = binding;
          return typeof role === "string" ? [{ role, members: strings(members), conditional: condition !== void 0 }] : [];
        });
      }
    };
  }
});

// src/doctor/access.ts
async function readSettings({ config, http: http2 }, resource, accessToken) {
  const skipped = unreadable(resource, accessToken, "iap.webServices.getSettings", config);
  if (skipped || !resource.name || typeof accessToken !== "string") return { value: void 0, checks: [skipped ?? notRead] };
  try {
    const value = await new IapAdmin(http2, config.endpoints.iap).settings(accessToken, resource.name);
    const client = value.clientId ? `IAP uses a custom OAuth client, ${value.clientId}: ID tokens for it are accepted.` : "IAP uses Google's managed OAuth client: it accepts no programmatic ID token for it, only for clients on programmaticClients (or a signed JWT).";
    const allowed = value.programmaticClients.length ? `programmaticClients: ${value.programmaticClients.join(", ")}.` : "programmaticClients: none.";
    return {
      value,
      checks: [
        { status: "info", text: client },
        { status: "info", text: allowed }
      ]
    };
  } catch (error2) {
    return { value: void 0, checks: [apiSkip("Settings", error2, "iap.webServices.getSettings", resource.name)] };
  }
}
async function readPolicy({ config, http: http2 }, resource, accessToken, principal) {
  const skipped = unreadable(resource, accessToken, "iap.webServices.getIamPolicy", config);
  if (skipped || !resource.name || typeof accessToken !== "string") return { missing: false, checks: skipped ? [skipped] : [] };
  let bindings;
  try {
    bindings = await new IapAdmin(http2, config.endpoints.iap).iamPolicy(accessToken, resource.name);
  } catch (error2) {
    return { missing: false, checks: [apiSkip("IAM policy", error2, "iap.webServices.getIamPolicy", resource.name)] };
  }
  return policyFor(bindings, principal);
}
function policyFor(bindings, principal) {
  const accessors = bindings.filter((binding) => binding.role === ACCESSOR);
  const members = accessors.flatMap((binding) => binding.members);
  const listed = `${ACCESSOR} holders: ${members.length ? members.join(", ") : "none"}.`;
  const conditional = new Set(accessors.filter((binding) => binding.conditional).flatMap((binding) => binding.members));
  if (!principal) return { missing: false, checks: [{ status: "info", text: listed }] };
  const member = memberOf(principal);
  if (conditional.has(member) && !accessors.some((binding) => !binding.conditional && binding.members.includes(member))) {
    return {
      missing: false,
      checks: [{ status: "info", text: `${member} holds ${ACCESSOR} under a condition, which IAP checks on each request. ${listed}` }]
    };
  }
  if (members.includes(member)) return { missing: false, checks: [{ status: "ok", text: `${member} holds ${ACCESSOR}. ${listed}` }] };
  const indirect = members.filter((name) => /^(group|domain|principalSet|principal|allAuthenticatedUsers|allUsers)\b/.test(name));
  if (indirect.length) {
    return {
      missing: false,
      checks: [
        { status: "info", text: `${member} is not granted ${ACCESSOR} by name; it may hold it through ${indirect.join(", ")}. ${listed}` }
      ]
    };
  }
  return { missing: true, checks: [{ status: "problem", text: `${member} does not hold ${ACCESSOR} on this resource. ${listed}` }] };
}
function unreadable(resource, accessToken, permission, config) {
  if (!resource.name) {
    return {
      status: "skipped",
      text: `Skipped ${permission === "iap.webServices.getSettings" ? "settings" : "IAM policy"}: the IAP resource is not known from the URL; name it with ${config.nameOf("iap_resource")} (projects/PROJECT_NUMBER/iap_web/…) to read it.`
    };
  }
  if (typeof accessToken !== "string") {
    const why = accessToken === void 0 ? "no credential to read it with" : explain(accessToken).split("\n")[0];
    return { status: "skipped", text: `Skipped (needs ${permission}): ${why}` };
  }
  return void 0;
}
function apiSkip(what, error2, permission, name) {
  if (error2 instanceof ApiError && (error2.failure.reason === "ACCESS_TOKEN_SCOPE_INSUFFICIENT" || /scope/i.test(error2.failure.message))) {
    return {
      status: "skipped",
      text: `${what} not readable: the credential's access token lacks the cloud-platform scope (a refresh token from iap-token login needs --cloud-platform; a VM, the cloud-platform access scope).`
    };
  }
  if (error2 instanceof ApiError && (error2.failure.status === 403 || error2.failure.status === 401)) {
    return {
      status: "skipped",
      text: `${what} not readable: it needs ${error2.failure.permission ?? permission} on ${name} (HTTP ${error2.failure.status}).`
    };
  }
  return { status: "skipped", text: `${what} not readable: ${explain(error2).split("\n")[0]}` };
}
var NOT_SENT, notRead;
var init_access = __esm({
  "src/doctor/access.ts"() {
    "use strict";
    init_errors();
    init_iap_admin();
    init_grants();
    NOT_SENT = "No token was minted or sent: IAP does not answer for this URL, and a token goes only where IAP does (whoever serves it could replay the token).";
    notRead = { status: "skipped", text: "Not read." };
  }
});

// src/logger.ts
var QUIET;
var init_logger = __esm({
  "src/logger.ts"() {
    "use strict";
    QUIET = { info: () => void 0, warning: () => void 0 };
  }
});

// src/doctor/trials.ts
function minterFor({ config, env, http: http2 }, credential, kind, audience) {
  const unscoped = kind === "access_token" ? cannotMintAccessToken(config.source, config.serviceAccount, env) : void 0;
  if (unscoped) return { minter: void 0, refused: `${unscoped}; set ${config.nameOf("service_account")} to mint one through IAM.` };
  const unsigned = kind === "signed_jwt" ? cannotSign(config.source, config.serviceAccount) : void 0;
  if (unsigned === "user") {
    return {
      minter: void 0,
      refused: `a user's refresh token cannot sign a JWT (only a service account can): set ${config.nameOf("service_account")} to one you may impersonate.`
    };
  }
  if (unsigned === "no-key-id") {
    return { minter: void 0, refused: `the key file has no private_key_id, which IAP needs to find the signing key.` };
  }
  const variant = {
    ...config,
    tokenType: kind,
    audience,
    audienceFrom: void 0,
    auto: false,
    choice: void 0,
    includeEmail: true,
    lifetimeSeconds: kind === "signed_jwt" ? config.lifetimeSeconds : 3600
  };
  return { minter: createMinter(variant, { env, report: QUIET, http: http2, credential }), refused: void 0 };
}
function idTokenAudiences(config, probe, settings) {
  const given = config.tokenType === "id_token" && config.audience ? [config.audience] : [];
  const candidates = [
    ...given,
    ...probe.clientId ? [probe.clientId] : [],
    ...settings?.clientId ? [settings.clientId] : [],
    ...settings?.programmaticClients ?? []
  ];
  return [...new Set(candidates)];
}
async function tryToken(options, url, kind, audience, candidate) {
  const base = { kind, audience, sent: void 0, status: null, from: null, refusal: void 0 };
  if (!candidate.minter) return { ...base, outcome: "not-minted", why: candidate.refused ?? "no credential" };
  let minted;
  try {
    minted = await candidate.minter.mint();
  } catch (error2) {
    return { ...base, outcome: "not-minted", why: explain(error2) };
  }
  const claims = kind === "access_token" ? {} : decodeJwt(minted.token)?.claims ?? {};
  const text2 = (value) => typeof value === "string" ? value : void 0;
  const sent = {
    aud: kind === "access_token" ? "none (an access token)" : text2(claims["aud"]) ?? minted.audience,
    email: text2(claims["email"]) ?? text2(claims["iss"]) ?? minted.principal,
    exp: rfc3339(minted.expiresAt)
  };
  const trial = await sendThroughIap(options.http, url, minted.token, `${kindOf(kind, "Capital")} trial`);
  const { status, from, response } = trial;
  if (!response) return { ...base, sent, outcome: "refused", why: `no answer: ${trial.failure ?? "unknown error"}` };
  if (from === "iap") {
    const refusal = trial.refusal ?? "other";
    const why = refusalWhy(refusal, response.body, { header: "authorization", principal: minted.principal, kind });
    return { ...base, sent, status, from, refusal, outcome: "refused", why };
  }
  if (status === 403) {
    return { ...base, sent, status, from, outcome: "refused", why: "IAP let it through, and the service behind IAP refused it (403)." };
  }
  return { ...base, sent, status, from, outcome: "passed", why: `IAP let it through; the app answered ${status}.` };
}
function notTaken(trial) {
  return trial.kind === "access_token" && trial.from === "iap" && trial.status === 401 && trial.refusal === "parse";
}
function refusalWhy(refusal, body, context) {
  const said = printable(body.slice(0, 120)).replace(/\s+/g, " ").trim();
  const quoted = refusal === "forbidden" ? "IAP refused it (403)" : `IAP refused it: "${said}"`;
  const explanation = explainRefusal(refusal, "trial", context);
  return `${quoted}. ${explanation.charAt(0).toUpperCase()}${explanation.slice(1)}`;
}
function describeTrial(trial) {
  const what = `${kindOf(trial.kind, "Capital")} ${trial.kind === "access_token" ? "(openid, email)" : `for ${trial.audience}`}`;
  const sent = trial.sent ? ` Sent: aud ${trial.sent.aud}, email ${trial.sent.email}, exp ${trial.sent.exp}.` : "";
  if (trial.outcome === "not-minted") return { status: "skipped", text: `${what}: not minted: ${trial.why}` };
  if (notTaken(trial)) return { status: "info", text: `${what}: ${trial.why}${sent}` };
  return { status: trial.outcome === "passed" ? "ok" : "problem", text: `${what}: ${trial.why}${sent}` };
}
function describeCaller(config) {
  return config.serviceAccount ? `${config.source.origin}, as ${config.serviceAccount}` : config.source.origin;
}
var init_trials = __esm({
  "src/doctor/trials.ts"() {
    "use strict";
    init_errors();
    init_trial();
    init_refusals();
    init_jwt();
    init_printable();
    init_iap_access();
    init_signing();
    init_pipeline();
    init_check();
    init_logger();
  }
});

// src/doctor/verdict.ts
function judge(trials, config, url) {
  const verdict = choose(trials, config, url);
  return { ...verdict, text: `${verdict.text}${takenKinds(trials)}` };
}
function takenKinds(trials) {
  const taken = PREFERENCE.filter((kind) => trials.some((trial) => trial.kind === kind && tookToken(trial.from, trial.refusal)));
  const refusedAccess = trials.some(notTaken);
  if (taken.length === 0 && !refusedAccess) return "";
  const names = taken.map((kind) => kindOf(kind, "a"));
  const list = names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names.at(-1) ?? ""}` : names[0] ?? "none of the kinds tried";
  return ` IAP took: ${list}${refusedAccess ? "; this app does not take access tokens" : ""}.`;
}
function settingOf(trial, n) {
  return trial.audience ? `${n("token_type")} ${trial.kind}, ${n("audience")} ${trial.audience}` : `${n("token_type")} ${trial.kind}`;
}
function choose(trials, config, url) {
  const passed = trials.filter((trial) => trial.outcome === "passed");
  const best = PREFERENCE.map((kind) => passed.find((trial) => trial.kind === kind)).find(Boolean);
  const n = config.nameOf;
  if (!best) {
    const accepted = trials.find((trial) => trial.from === "iap" && trial.status === 403);
    const then = accepted ? ` IAP accepts the ${kindOf(accepted.kind)} (${settingOf(accepted, n)}) and refuses its principal: grant access, and that is the token to use.` : "";
    const behind = trials.find((trial) => trial.from === "app" && trial.status === 403);
    if (behind) {
      return {
        works: false,
        tokenType: void 0,
        audience: void 0,
        text: `IAP lets the ${kindOf(behind.kind)} through (${settingOf(behind, n)}), and the service behind IAP refuses it with 403. Fix that (below), and that is the token to use.`
      };
    }
    return {
      works: false,
      tokenType: void 0,
      audience: void 0,
      text: `no token got through IAP.${then} Fix the problems below, in order, and run the doctor again.`
    };
  }
  const set = {
    signed_jwt: `${n("token_type")} signed_jwt and ${n("audience")} ${best.audience} (or leave both out with ${n("app_url")} ${url.origin}: auto picks the same)`,
    id_token: `${n("audience")} ${best.audience} (${n("token_type")} auto then mints an ID token)`,
    // auto falls back to an access token only where it chose an ID token: for a caller that cannot sign.
    access_token: cannotSign(config.source, config.serviceAccount) ? `${n("token_type")} access_token (no audience; or leave it auto with ${n("app_url")} ${url.origin}, which falls back to one)` : `${n("token_type")} access_token (no audience)`
  }[best.kind];
  const what = best.kind === "id_token" ? "a Google-signed ID token" : kindOf(best.kind, "a");
  return { works: true, tokenType: best.kind, audience: best.audience, text: `${what} gets through IAP. Set ${set}.` };
}
function trialProblems(trials, probe, resource, verdict, principal) {
  const problems = [];
  const accepted = trials.some((trial) => trial.from === "iap" && trial.status === 403);
  for (const trial of trials) {
    if (trial.outcome === "passed" || notTaken(trial)) continue;
    if (trial.status === 403 && trial.from === "app") problems.push(behindProblem(resource));
    if (verdict.works) continue;
    if (trial.status === 403 && trial.from === "iap" && principal) problems.push(accessorProblem(principal, resource, true));
    else if (trial.outcome === "not-minted" && trial.kind !== "access_token") problems.push(mintProblem(trial));
    else if (trial.outcome === "not-minted") continue;
    else if (trial.kind === "id_token" && trial.from === "iap" && trial.status === 401 && /audience/i.test(trial.why)) {
      if (!accepted) problems.push(managedClientProblem(trial.audience, trial.audience === probe.clientId, resource));
    } else if (trial.from === "iap" || trial.status === null) {
      problems.push({
        title: `The ${kindOf(trial.kind)} was refused`,
        why: trial.why,
        gcloud: void 0,
        terraform: void 0
      });
    }
  }
  return problems;
}
function dedupe(problems) {
  const seen = /* @__PURE__ */ new Set();
  return problems.filter((problem) => !seen.has(problem.title) && Boolean(seen.add(problem.title)));
}
var PREFERENCE;
var init_verdict = __esm({
  "src/doctor/verdict.ts"() {
    "use strict";
    init_check();
    init_fixes();
    init_trials();
    init_signing();
    init_trial();
    PREFERENCE = ["signed_jwt", "id_token", "access_token"];
  }
});

// src/doctor/run.ts
var run_exports = {};
__export(run_exports, {
  runDoctor: () => runDoctor
});
async function runDoctor(options) {
  const { config, doctor, http: http2, progress } = options;
  const url = new URL(doctor.url);
  const resource = describeResource(url, doctor.iapResource);
  const problems = [];
  progress(`Doctor: checking ${displayUrl(url)} without credentials.`);
  const probe = await probeIap(http2, url.href);
  const outside = await strangerChecks(options, url, probe, resource, problems);
  progress("Doctor: reading IAP settings where permitted, then minting each token kind.");
  const caller = options.credential ?? createMinter(config, { env: options.env, report: QUIET, http: http2 }).credential;
  const signer = minterFor(options, caller, "signed_jwt", `${url.origin}/*`);
  const accessToken = resource.name ? await caller.accessToken().catch((error2) => error2) : void 0;
  const settings = await readSettings(options, resource, accessToken);
  const trials = [];
  if (probe.from === "iap") {
    const idAudiences = idTokenAudiences(config, probe, settings.value);
    for (const audience of idAudiences.slice(0, 2)) {
      const trial = await tryToken(options, url, "id_token", audience, minterFor(options, caller, "id_token", audience));
      trials.push(trial);
      if (trial.outcome === "passed") break;
    }
    trials.push(await tryToken(options, url, "signed_jwt", `${url.origin}/*`, signer));
    trials.push(await tryToken(options, url, "access_token", "", minterFor(options, caller, "access_token", "")));
  }
  const principal = trials.map((trial) => trial.sent?.email).find(Boolean) ?? caller.principal;
  const policy = await readPolicy(options, resource, accessToken, principal);
  const verdict = judge(trials, config, url);
  problems.push(...trialProblems(trials, probe, resource, verdict, principal));
  const planned = trials.find((trial) => trial.kind === config.tokenType && trial.audience === config.audience);
  if (verdict.works && planned && planned.outcome !== "passed") {
    problems.unshift({
      title: "The token configured here does not get through IAP",
      why: `The ${kindOf(planned.kind)}${planned.audience ? ` for ${planned.audience}` : ""}: ${planned.why} Instead, ${verdict.text}`,
      gcloud: void 0,
      terraform: void 0
    });
  }
  if (!verdict.works && policy.missing && principal && !problems.some((problem) => problem.title.startsWith("No access"))) {
    problems.push(accessorProblem(principal, resource, false));
  }
  return {
    url: displayUrl(url),
    resource: resource.description,
    layers: [
      { title: "Without credentials: is IAP in front?", checks: outside },
      {
        title: `With the caller's credential: ${describeCaller(config)}`,
        checks: probe.from === "iap" ? trials.map(describeTrial) : [{ status: "skipped", text: NOT_SENT }]
      },
      { title: "IAP's settings and IAM policy (read where permitted)", checks: [...settings.checks, ...policy.checks] }
    ],
    trials,
    verdict,
    problems: dedupe(problems)
  };
}
async function strangerChecks({ doctor, http: http2 }, url, probe, resource, problems) {
  const shown = displayUrl(url);
  const checks = [];
  if (probe.status === null) {
    checks.push({ status: "problem", text: `${shown} did not answer: ${probe.failure ?? "no answer"}.` });
    problems.push({
      title: "The app did not answer",
      why: `${shown}: ${probe.failure ?? "no answer"}. Check the URL, DNS and any proxy (https_proxy).`,
      gcloud: void 0,
      terraform: void 0
    });
  } else if (probe.from === "iap") {
    const how = probe.clientId ? `its sign-in redirect (${probe.status})` : `${probe.status}, marked X-Goog-IAP-Generated-Response`;
    checks.push({ status: "ok", text: `IAP answers for ${shown}: ${how}.` });
  } else {
    checks.push({ status: "problem", text: `${shown} answered ${probe.status} to a request without credentials, and not from IAP.` });
    problems.push(noIapProblem(shown, probe.status, resource));
  }
  if (probe.clientId) checks.push({ status: "info", text: `IAP signs people in with the OAuth client ${probe.clientId}.` });
  checks.push({ status: "info", text: `The app looks like ${resource.description}.` });
  for (const also of doctor.also) {
    const other = await probeIap(http2, also);
    const shownOther = displayUrl(also);
    if (other.status === null)
      checks.push({ status: "info", text: `${shownOther} did not answer (${other.failure ?? "no answer"}): no way around IAP there.` });
    else if (other.from === "iap") checks.push({ status: "ok", text: `${shownOther} answers through IAP too (${other.status}).` });
    else if (other.status === 401 || other.status === 403 || other.status === 404) {
      checks.push({ status: "ok", text: `${shownOther} refuses a stranger (${other.status}) without IAP: not a way around it.` });
    } else {
      checks.push({
        status: "problem",
        text: `${shownOther} answered ${other.status} without credentials and without IAP: a way around IAP.`
      });
      problems.push(bypassProblem(shownOther, other.status, resource));
    }
  }
  return checks;
}
var init_run = __esm({
  "src/doctor/run.ts"() {
    "use strict";
    init_probe();
    init_pipeline();
    init_check();
    init_urls();
    init_fixes();
    init_resource();
    init_access();
    init_trials();
    init_verdict();
    init_logger();
  }
});

// src/http/health.ts
var HEALTH_PATH;
var init_health = __esm({
  "src/http/health.ts"() {
    "use strict";
    HEALTH_PATH = "/.iap-token/healthz";
  }
});

// src/agent/token-file.ts
var token_file_exports = {};
__export(token_file_exports, {
  removeTokenFile: () => removeTokenFile,
  tokenFilePath: () => tokenFilePath,
  writeFileAtomically: () => writeFileAtomically,
  writeTokenFile: () => writeTokenFile
});
function tokenFilePath(parent) {
  const dir = (0, import_node_fs3.mkdtempSync)((0, import_node_path2.join)(parent, "iap-token-"));
  (0, import_node_fs3.chmodSync)(dir, 448);
  return (0, import_node_path2.join)(dir, "token");
}
function writeTokenFile(path, token) {
  writeFileAtomically(path, token);
}
function writeFileAtomically(path, text2) {
  const temporary = `${path}.${(0, import_node_crypto3.randomBytes)(6).toString("hex")}.tmp`;
  const fd = (0, import_node_fs3.openSync)(temporary, "wx", 384);
  try {
    (0, import_node_fs3.writeSync)(fd, text2);
    (0, import_node_fs3.fsyncSync)(fd);
  } finally {
    (0, import_node_fs3.closeSync)(fd);
  }
  (0, import_node_fs3.renameSync)(temporary, path);
}
function removeTokenFile(path) {
  (0, import_node_fs3.rmSync)(path, { force: true });
  const dir = (0, import_node_path2.dirname)(path);
  if ((0, import_node_path2.basename)(path) === "token" && (0, import_node_path2.basename)(dir).startsWith("iap-token-")) (0, import_node_fs3.rmSync)(dir, { recursive: true, force: true });
}
var import_node_crypto3, import_node_fs3, import_node_path2;
var init_token_file = __esm({
  "src/agent/token-file.ts"() {
    "use strict";
    import_node_crypto3 = require("node:crypto");
    import_node_fs3 = require("node:fs");
    import_node_path2 = require("node:path");
  }
});

// src/agent/launch.ts
var launch_exports = {};
__export(launch_exports, {
  AGENT_NODE_FLAGS: () => AGENT_NODE_FLAGS,
  isRunningAgent: () => isRunningAgent,
  launchAgent: () => launchAgent,
  logTail: () => logTail,
  stopAgent: () => stopAgent
});
async function launchAgent(inputs, env, minted, log2) {
  const run2 = (0, import_node_crypto4.randomBytes)(16).toString("hex");
  const tokenFile = tokenFilePath(env["RUNNER_TEMP"] || (0, import_node_os.tmpdir)());
  const dir = (0, import_node_path3.dirname)(tokenFile);
  const statsFile = (0, import_node_path3.join)(dir, "agent.json");
  const logFile = (0, import_node_path3.join)(dir, "agent.log");
  const caFile = (0, import_node_path3.join)(dir, "ca.pem");
  const launch = {
    inputs,
    initial: {
      token: minted.token,
      kind: minted.kind,
      audience: minted.audience,
      principal: minted.principal,
      expiresAt: minted.expiresAt.toISOString()
    },
    tokenFile,
    statsFile,
    caFile
  };
  const logFd = (0, import_node_fs4.openSync)(logFile, "a", 384);
  const childEnv = Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith("INPUT_")));
  const child = (0, import_node_child_process.spawn)(process.execPath, [...AGENT_NODE_FLAGS, agentEntry(), RUN_FLAG, run2], {
    detached: true,
    stdio: ["pipe", logFd, logFd, "pipe"],
    env: childEnv,
    cwd: dir
  });
  (0, import_node_fs4.closeSync)(logFd);
  child.stdin?.end(JSON.stringify(launch));
  try {
    const ready = await readiness(child, logFile);
    for (const url of [ready.proxyUrl, ready.forwardProxyUrl]) if (url) await healthy(url, log2);
    return {
      pid: child.pid ?? 0,
      run: run2,
      tokenFile,
      statsFile,
      logFile,
      proxyUrl: ready.proxyUrl,
      forwardProxyUrl: ready.forwardProxyUrl,
      caFile: ready.forwardProxyUrl ? caFile : void 0,
      spki: ready.spki
    };
  } catch (error2) {
    await stopAgent(child.pid ?? 0, run2, log2);
    removeTokenFile(tokenFile);
    throw error2;
  } finally {
    child.stdio[3]?.removeAllListeners();
    child.stdio[3]?.destroy?.();
    child.removeAllListeners();
    child.unref();
  }
}
function isRunningAgent(pid, run2) {
  if (!Number.isInteger(pid) || pid <= 0 || !run2) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const args = commandLine(pid);
  if (args === void 0) return true;
  return args.some((arg, i) => arg === RUN_FLAG && args[i + 1] === run2);
}
function commandLine(pid) {
  if (process.platform === "win32") return void 0;
  try {
    if ((0, import_node_fs4.existsSync)("/proc/self/cmdline")) return (0, import_node_fs4.readFileSync)(`/proc/${pid}/cmdline`, "utf8").split("\0");
    const text2 = (0, import_node_child_process.execFileSync)("ps", ["-o", "command=", "-p", String(pid)], {
      encoding: "utf8",
      timeout: 5e3,
      stdio: ["ignore", "pipe", "ignore"]
    });
    return text2.trim().split(/\s+/);
  } catch {
    return [];
  }
}
async function stopAgent(pid, run2, warn) {
  if (!isRunningAgent(pid, run2)) return;
  signal(pid, "SIGTERM");
  for (let waited = 0; waited < STOP_TIMEOUT_MS; waited += STOP_POLL_MS) {
    await new Promise((resolve) => setTimeout(resolve, STOP_POLL_MS));
    if (!isRunningAgent(pid, run2)) return;
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
function agentEntry() {
  const entry = (0, import_node_path3.join)(typeof __dirname === "string" ? __dirname : ".", "agent.cjs");
  if (!(0, import_node_fs4.existsSync)(entry)) throw new ActionError(`The token agent (${entry}) is missing from this build of the action.`);
  return entry;
}
function readiness(child, logFile) {
  return new Promise((resolve, reject) => {
    const status = child.stdio[3];
    let text2 = "";
    const timer = setTimeout(
      () => reject(new ActionError(`The token agent did not start within ${READY_TIMEOUT_MS / 1e3} s.${logTail(logFile)}`)),
      READY_TIMEOUT_MS
    );
    status.on("data", (chunk) => {
      text2 += chunk.toString("utf8");
      if (!text2.includes("\n")) return;
      clearTimeout(timer);
      try {
        const answer = JSON.parse(text2.slice(0, text2.indexOf("\n")));
        if (answer.ready) {
          const password = answer.forwardProxyUrl ? new URL(answer.forwardProxyUrl).password : "";
          if (password) registerSecret(decodeURIComponent(password));
          resolve({ proxyUrl: answer.proxyUrl, forwardProxyUrl: answer.forwardProxyUrl, spki: answer.spki });
        } else reject(new ActionError(`The token agent could not start: ${redact(answer.error ?? "no reason given")}`));
      } catch {
        reject(new ActionError(`The token agent answered something unexpected.${logTail(logFile)}`));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new ActionError(`The token agent exited (code ${String(code)}) before it was ready.${logTail(logFile)}`));
    });
  });
}
async function healthy(proxyUrl, log2) {
  const http2 = new Http({ log: log2 });
  const url = new URL(proxyUrl);
  const credential = url.username ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` : void 0;
  const { response } = await http2.send({
    what: "Token agent health check",
    method: "GET",
    url: `${url.origin}${HEALTH_PATH}`,
    ...credential ? { headers: { "proxy-authorization": `Basic ${Buffer.from(credential).toString("base64")}` } } : {},
    direct: true,
    retry: { attempts: 10, timeoutMs: 2e3, budgetMs: 1e4, retryable: (answer) => answer.status !== 200 }
  });
  if (response.status !== 200)
    throw new ActionError(`The proxy answered its health check with ${response.status}: ${redact(response.body.slice(0, 300))}`);
}
function logTail(logFile, lines = 5) {
  try {
    const tail = (0, import_node_fs4.readFileSync)(logFile, "utf8").trim().split("\n").slice(-lines).join("\n");
    return tail ? `
The agent's last log lines:
${redact(tail)}` : "";
  } catch {
    return "";
  }
}
var import_node_child_process, import_node_crypto4, import_node_fs4, import_node_os, import_node_path3, AGENT_NODE_FLAGS, READY_TIMEOUT_MS, STOP_TIMEOUT_MS, STOP_POLL_MS, RUN_FLAG;
var init_launch = __esm({
  "src/agent/launch.ts"() {
    "use strict";
    import_node_child_process = require("node:child_process");
    import_node_crypto4 = require("node:crypto");
    import_node_fs4 = require("node:fs");
    import_node_os = require("node:os");
    import_node_path3 = require("node:path");
    init_errors();
    init_client();
    init_health();
    init_secrets();
    init_token_file();
    AGENT_NODE_FLAGS = ["--max-semi-space-size=4"];
    READY_TIMEOUT_MS = 3e4;
    STOP_TIMEOUT_MS = 1e4;
    STOP_POLL_MS = 100;
    RUN_FLAG = "--run";
  }
});

// src/smoke/classify.ts
function canHeal(response, config) {
  if (statusIn(config.expected, response.status)) return false;
  if (answeredByIap(response.headers)) return response.status === 403 || isRetryableStatus(response.status);
  return isRetryableStatus(response.status);
}
function isUnsafe(method) {
  return UNSAFE.has(method);
}
function canRetrySafely(method, config) {
  if (!UNSAFE.has(method)) return { answer: (response) => canHeal(response, config), failure: isRetryableNetworkFailure };
  return {
    answer: (response) => answeredByIap(response.headers) && canHeal(response, config),
    failure: (failure) => failure.code === "ECONNREFUSED" || failure.code === "EAI_AGAIN"
  };
}
function statusIn(set, status) {
  return set.ranges.some(([low, high]) => status >= low && status <= high);
}
var UNSAFE;
var init_classify = __esm({
  "src/smoke/classify.ts"() {
    "use strict";
    init_answers();
    init_failures();
    UNSAFE = /* @__PURE__ */ new Set(["POST", "PUT", "PATCH", "DELETE"]);
  }
});

// src/smoke/diagnose.ts
async function diagnose(failed) {
  const { response, failure, config } = failed;
  const window = `${config.retryForMs / 1e3} s`;
  if (!response) return `No answer within the retry window (${window}): ${failure ?? "unknown error"}.`;
  const { status } = response;
  if (answeredByIap(response.headers)) {
    if (status === 401) return iapRefusedToken(failed, response);
    if (status === 403) return iapForbidden(failed.minted.principal, window);
    if (status >= 300 && status < 400) {
      return `IAP redirected to its sign-in page: it did not see the token. Check that nothing between the runner and IAP strips the ${config.header} header.`;
    }
    return `IAP answered ${status}, which smoke_test_expected_status (${config.expected.text}) does not accept.`;
  }
  if (status === 403) {
    return [
      "The request passed IAP, and the app (or the service behind IAP) refused it with 403.",
      "Fix: for Cloud Run behind IAP, the IAP service agent needs roles/run.invoker on the service:",
      `  ${invokerGrant("SERVICE", "REGION", void 0)}`
    ].join("\n");
  }
  if (status === 401) {
    const hint = config.header === "authorization" ? " If the app checks its own Authorization header, set smoke_test_header: proxy-authorization and send the app's credential in smoke_test_headers." : "";
    return `The request passed IAP, and the app refused it with 401 (its own authentication).${hint}`;
  }
  if (status >= 300 && status < 400) {
    const location = String(response.headers["location"] ?? "");
    return `The app redirected to ${safeLocation(location)}; redirects are not followed (the token would travel on). Call the final URL, or add ${status} to smoke_test_expected_status.`;
  }
  if (status >= 500 || status === 429 || status === 408) {
    return `The app kept answering ${status} for the whole retry window (${window}).`;
  }
  return `The app answered ${status}, which smoke_test_expected_status (${config.expected.text}) does not accept.`;
}
function iapForbidden(principal, window) {
  return [
    `IAP refused ${principal} with 403 for the whole retry window (${window}): it lacks roles/iap.httpsResourceAccessor on this app, or a fresh grant has not propagated yet (it can take 7 minutes or more; raise smoke_test_retry_for).`,
    "Fix: grant it on the app's backend service (or --resource-type=cloud-run --service=SERVICE --region=REGION):",
    `  ${accessorGrant("--resource-type=backend-services --service=BACKEND_SERVICE", memberOf(principal))}`
  ].join("\n");
}
async function iapRefusedToken(failed, response) {
  const { minted, config } = failed;
  const said = response.body.trim().slice(0, 200);
  const quoted = `IAP refused the token with 401: "${said}".`;
  const refusal = iapRefusal(response.status, said);
  if (refusal !== "audience") {
    const fix = refusalFix(refusal, { header: config.header, principal: minted.principal, kind: minted.kind });
    return fix ? `${quoted}
Fix: ${fix}` : quoted;
  }
  if (minted.kind === "signed_jwt") {
    return `${quoted}
Fix: the signed JWT's audience ${minted.audience} does not cover the URL IAP saw; use https://HOST/* as audience.`;
  }
  const clientId = await signInClientId(failed);
  const claim = decodeJwt(minted.token)?.claims["aud"];
  const aud = typeof claim === "string" ? claim : minted.audience;
  const url = new URL(failed.target.url);
  if (clientId && clientId === aud) {
    return `${quoted}
Fix: the token is for ${aud}, the very client IAP signs people in with, and IAP still refuses it: this app is on Google's managed OAuth client, which refuses programmatic ID tokens unless their client is on the app's programmaticClients list. Use token_type: signed_jwt with audience ${url.origin}/* (it needs no OAuth client), or allowlist an OAuth client you own and mint for it (iap-token doctor ${url.origin} shows both).`;
  }
  const expected = clientId ? `IAP on this app uses the OAuth client ${clientId}, and the token's audience is ${aud}. Set audience: ${clientId}, or add ${aud} to the app's programmaticClients allowlist` : `The token's audience ${aud} is not the OAuth client IAP uses for this app, nor on its programmaticClients allowlist. Use that client ID as audience`;
  return `${quoted}
Fix: ${expected}; or, with no OAuth client at all, token_type: signed_jwt with audience ${url.origin}/*.`;
}
async function signInClientId(failed) {
  const probe = await probeIap(failed.http, failed.target.url, { retry: { attempts: 1, timeoutMs: failed.config.timeoutMs } });
  return probe.clientId;
}
function safeLocation(location) {
  try {
    const url = new URL(location);
    return `${url.origin}${url.pathname}`;
  } catch {
    return "another location";
  }
}
var init_diagnose = __esm({
  "src/smoke/diagnose.ts"() {
    "use strict";
    init_jwt();
    init_answers();
    init_grants();
    init_probe();
    init_refusals();
  }
});

// src/smoke/run.ts
var run_exports2 = {};
__export(run_exports2, {
  refusedForAudience: () => refusedForAudience,
  runSmokeTests: () => runSmokeTests,
  smokeFailure: () => smokeFailure
});
async function runSmokeTests(config, minted, http2, log2, now = Date.now) {
  return Promise.all(
    config.targets.map(async (target) => {
      if (target.deny) return checkDenied(target, config, http2, log2, now);
      if (minted.kind !== "signed_jwt") {
        const refusal = await iapGate(target, config, http2, minted, now);
        if (refusal) {
          log2(`✗ ${target.method} ${displayUrl(target.url)}: the ${kindOf(minted.kind)} was not sent (${refusal.why})`);
          return refusal.result;
        }
      }
      return runOne(target, config, minted, http2, log2, now);
    })
  );
}
async function iapGate(target, config, http2, { kind }, now) {
  const started = now();
  const shown = displayUrl(target.url);
  const probe = await probeIap(http2, target.url, { headers: config.headers, retry: probePolicy(config) });
  if (probe.from === "iap") return void 0;
  const why = probe.status !== null ? `${shown} answered ${probe.status} without IAP's mark (X-Goog-IAP-Generated-Response)` : `${shown} did not answer`;
  const reach = kind === "access_token" ? "An access token is accepted by every IAP app that takes them (and by Google for your email) for an hour" : "An ID token is accepted by every IAP app on its OAuth client for an hour";
  const diagnosis = `IAP does not answer for this URL, so the ${kindOf(kind)} was not sent: ${why}. ${reach}, so it goes only to URLs behind IAP; check the URL (a typo, a staging host, an app without IAP).`;
  return { why, result: probeResult(target, probe, false, Math.round(now() - started), diagnosis) };
}
function probePolicy(config) {
  return { ...SMOKE_POLICY, timeoutMs: config.timeoutMs, budgetMs: config.retryForMs };
}
function probeResult(target, probe, ok, ms, diagnosis) {
  return {
    method: target.method,
    url: displayUrl(target.url),
    ...target.deny ? { deny: true } : {},
    status: probe.status,
    ok,
    attempts: probe.attempts,
    ms,
    from: probe.from,
    ...diagnosis ? { diagnosis } : {}
  };
}
async function checkDenied(target, config, http2, log2, now) {
  const started = now();
  const shown = displayUrl(target.url);
  const probe = await probeIap(http2, target.url, { retry: probePolicy(config) });
  const ms = Math.round(now() - started);
  const ok = turnedAwayByIap(probe.status, probe.from);
  const answer = probe.status === null ? "no answer" : `${probe.status} from ${answererName(probe.from)}`;
  log2(`${ok ? "✓" : "✗"} DENY ${shown}: ${answer} without a token`);
  if (ok) return probeResult(target, probe, true, ms);
  const diagnosis = probe.status === null ? `No answer within the retry window (${config.retryForMs / 1e3} s): ${probe.failure ?? "unknown error"}; whether IAP refuses strangers is unknown.` : probe.from === "iap" ? `IAP answered ${probe.status} to a request without a token; expected its sign-in redirect, 401 or 403.` : `IAP is not enforced here: the URL answered ${probe.status} to a request without any token, and not from IAP (no X-Goog-IAP-Generated-Response). Check that IAP is on for this app and that no route reaches it around IAP (a run.app URL with ingress all and allUsers invoker, a second load balancer). iap-token doctor URL --also URL checks both.`;
  return probeResult(target, probe, false, ms, diagnosis);
}
async function runOne(target, config, minted, http2, log2, now) {
  const started = now();
  const shown = displayUrl(target.url);
  const what = `${target.method} ${shown}`;
  const retry = canRetrySafely(target.method, config);
  let response;
  let attempts;
  let failure;
  try {
    const sent = await http2.send({
      what,
      method: target.method,
      url: target.url,
      headers: { ...config.headers, [config.header]: `Bearer ${minted.token}` },
      retry: {
        ...SMOKE_POLICY,
        timeoutMs: config.timeoutMs,
        budgetMs: config.retryForMs,
        retryable: retry.answer,
        retryableFailure: retry.failure,
        describe: (answer) => `${answererName(answeredBy(answer.headers))} answered ${answer.status}`
      }
    });
    response = sent.response;
    attempts = sent.attempts;
  } catch (error2) {
    if (!(error2 instanceof ApiError)) throw error2;
    attempts = error2.attempts;
    failure = error2.failure.message;
  }
  const ms = Math.round(now() - started);
  const status = response?.status ?? null;
  const ok = response !== void 0 && statusIn(config.expected, response.status);
  const from = answeredBy(response?.headers);
  const result = { method: target.method, url: shown, status, ok, attempts, ms, from };
  const timing = `${attempts} attempt${attempts === 1 ? "" : "s"}, ${(ms / 1e3).toFixed(1)} s`;
  if (ok) {
    log2(`✓ ${what}: ${status} from the ${from === "iap" ? "IAP" : "app"} (${timing})`);
    return result;
  }
  const diagnosis = await diagnose({ target, response, failure, minted, config, http: http2 });
  log2(`✗ ${what}: ${status === null ? "no answer" : `${status} from ${answererName(from)}`} (${timing})`);
  const refusal = response && from === "iap" ? iapRefusal(response.status, response.body) : void 0;
  return { ...result, diagnosis: redact(diagnosis), ...refusal ? { refusal } : {} };
}
function smokeFailure(results) {
  const failed = results.filter((result) => !result.ok);
  if (failed.length === 0) return void 0;
  const lines = failed.map((result) => `${result.deny ? "DENY" : result.method} ${result.url}: ${result.diagnosis ?? "failed"}`);
  return new ActionError(`Smoke test failed for ${failed.length} of ${results.length} URL(s); no outputs were set.
${lines.join("\n")}`);
}
function refusedForAudience(results) {
  const again = (result) => result.ok ? result.deny === true || !isUnsafe(result.method) : !result.deny && result.refusal === "audience";
  return results.some((result) => !result.ok) && results.every(again);
}
var SMOKE_POLICY;
var init_run2 = __esm({
  "src/smoke/run.ts"() {
    "use strict";
    init_errors();
    init_secrets();
    init_answers();
    init_probe();
    init_check();
    init_classify();
    init_urls();
    init_diagnose();
    SMOKE_POLICY = { baseDelayMs: 2e3, maxDelayMs: 15e3, attempts: 1e3 };
  }
});

// src/smoke/fallback.ts
var fallback_exports = {};
__export(fallback_exports, {
  trySmokeWithAccessToken: () => trySmokeWithAccessToken
});
async function trySmokeWithAccessToken(smoke, fallback, http2, failure, log2) {
  log2("IAP refused the ID token for its audience; smoke testing an access token once instead (token_type auto's last way).");
  let minted;
  try {
    minted = await fallback.mint();
  } catch (error2) {
    return { passed: false, failure: withNote(failure, `An access token could not be minted either: ${explain(error2)}`) };
  }
  const results = await runSmokeTests(smoke, minted, http2, log2);
  if (!smokeFailure(results)) {
    fallback.choose("IAP refused the ID token for its audience, and every smoke-tested URL passed with an access token.");
    return { passed: true, minted, results };
  }
  const met = results.filter((result) => !result.ok).map((result) => `${result.method} ${result.url}: ${result.refusal === "parse" ? NO_ACCESS_TOKENS : result.diagnosis ?? "failed"}`);
  return { passed: false, failure: withNote(failure, `An access token was smoke-tested once too, and failed:
${met.join("\n")}`) };
}
var init_fallback = __esm({
  "src/smoke/fallback.ts"() {
    "use strict";
    init_access_fallback();
    init_errors();
    init_refusals();
    init_run2();
  }
});

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

// node_modules/@actions/core/lib/file-command.js
var crypto = __toESM(require("crypto"));
var fs = __toESM(require("fs"));
var os2 = __toESM(require("os"));
function issueFileCommand(command, message) {
  const filePath = process.env[`GITHUB_${command}`];
  if (!filePath) {
    throw new Error(`Unable to find environment variable for file command ${command}`);
  }
  if (!fs.existsSync(filePath)) {
    throw new Error(`Missing file at path: ${filePath}`);
  }
  fs.appendFileSync(filePath, `${toCommandValue(message)}${os2.EOL}`, {
    encoding: "utf8"
  });
}
function prepareKeyValueMessage(key, value) {
  const delimiter = `ghadelimiter_${crypto.randomUUID()}`;
  const convertedValue = toCommandValue(value);
  if (key.includes(delimiter)) {
    throw new Error(`Unexpected input: name should not contain the delimiter "${delimiter}"`);
  }
  if (convertedValue.includes(delimiter)) {
    throw new Error(`Unexpected input: value should not contain the delimiter "${delimiter}"`);
  }
  return `${key}<<${delimiter}${os2.EOL}${convertedValue}${os2.EOL}${delimiter}`;
}

// node_modules/@actions/core/lib/core.js
var os3 = __toESM(require("os"));

// node_modules/@actions/core/lib/summary.js
var import_os = require("os");
var import_fs = require("fs");
var __awaiter2 = function(thisArg, _arguments, P, generator) {
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
    return __awaiter2(this, void 0, void 0, function* () {
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
    return __awaiter2(this, void 0, void 0, function* () {
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
    return __awaiter2(this, void 0, void 0, function* () {
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
  addRaw(text2, addEOL = false) {
    this._buffer += text2;
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
  addHeading(text2, level) {
    const tag = `h${level}`;
    const allowedTag = ["h1", "h2", "h3", "h4", "h5", "h6"].includes(tag) ? tag : "h1";
    const element = this.wrap(allowedTag, text2);
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
  addQuote(text2, cite) {
    const attrs = Object.assign({}, cite && { cite });
    const element = this.wrap("blockquote", text2, attrs);
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
  addLink(text2, href) {
    const element = this.wrap("a", text2, { href });
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
function exportVariable(name, val) {
  const convertedVal = toCommandValue(val);
  process.env[name] = convertedVal;
  const filePath = process.env["GITHUB_ENV"] || "";
  if (filePath) {
    return issueFileCommand("ENV", prepareKeyValueMessage(name, val));
  }
  issueCommand("set-env", { name }, convertedVal);
}
function setSecret(secret) {
  issueCommand("add-mask", {}, secret);
}
function setOutput(name, value) {
  const filePath = process.env["GITHUB_OUTPUT"] || "";
  if (filePath) {
    return issueFileCommand("OUTPUT", prepareKeyValueMessage(name, value));
  }
  process.stdout.write(os3.EOL);
  issueCommand("set-output", { name }, toCommandValue(value));
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
  process.stdout.write(message + os3.EOL);
}
function startGroup(name) {
  issue("group", name);
}
function endGroup() {
  issue("endgroup");
}
function saveState(name, value) {
  const filePath = process.env["GITHUB_STATE"] || "";
  if (filePath) {
    return issueFileCommand("STATE", prepareKeyValueMessage(name, value));
  }
  issueCommand("save-state", { name }, toCommandValue(value));
}

// src/main.ts
init_errors();

// src/inputs/index.ts
init_email();

// src/endpoints.ts
init_urls();
var OVERRIDE_PREFIX = "GHA_ENDPOINT_OVERRIDE_";
var APIS = ["oauth2", "sts", "iamcredentials", "iap", "accounts"];
function resolveEndpoints(universe, env, complain) {
  const overrides = new Map(
    APIS.flatMap((api) => {
      const value = override(env, api, complain);
      return value ? [[api, value]] : [];
    })
  );
  return {
    oauth2: overrides.get("oauth2") ?? `https://oauth2.${universe}`,
    sts: overrides.get("sts") ?? `https://sts.${universe}/v1`,
    iamcredentials: overrides.get("iamcredentials") ?? `https://iamcredentials.${universe}/v1`,
    iap: overrides.get("iap") ?? `https://iap.${universe}/v1`,
    // Sign-in lives on accounts.google.com in every universe that has it.
    accounts: overrides.get("accounts") ?? "https://accounts.google.com",
    iamHost: `iam.${universe}`,
    overridden: new Set(overrides.keys())
  };
}
function override(env, api, complain) {
  const name = OVERRIDE_PREFIX + api;
  const value = env[name]?.trim();
  if (!value) return void 0;
  checkEndpointUrl(value, name, complain);
  return value.replace(/\/+$/, "");
}
function checkEndpointUrl(value, source, complain) {
  let url;
  try {
    url = new URL(value);
  } catch {
    throw complain(source, "is not a URL; expected https://host[/path]");
  }
  if (carriesTokens(url)) return url;
  throw complain(source, `must be an https:// URL (http:// is accepted only for localhost), got ${url.protocol}//${url.host}`);
}
function checkFileUrl(value, input, field, complain) {
  return checkEndpointUrl(value, field, (name, problem) => complain(input, `${name} ${problem}`));
}

// src/inputs/index.ts
init_errors();
init_urls();
init_iap_access();
init_signing();

// src/inputs/smoke.ts
init_errors();
init_secrets();
init_urls();

// src/inputs/values.ts
init_errors();
function readBoolean({ fail }, value, name, fallback) {
  if (!value) return fallback;
  if (/^true$/i.test(value)) return true;
  if (/^false$/i.test(value)) return false;
  return fail(name, `must be true or false, got ${quote(value)}`);
}
function readTokenHeader({ input, fail }, name) {
  const value = input(name);
  const header = value.toLowerCase() || "authorization";
  if (header === "authorization" || header === "proxy-authorization") return header;
  return fail(name, `must be authorization or proxy-authorization (for apps that use their own Authorization header), got ${quote(value)}`);
}
function readWholeNumber({ input, fail }, name, unit, min, max) {
  const value = input(name);
  const number = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!(number >= min && number <= max)) fail(name, `must be whole ${unit} from ${min} to ${max}, got ${quote(value)}`);
  return number;
}
function parseUrlInput({ fail }, name, value, accepted) {
  const refusals = typeof accepted === "string" ? { notUrl: `must be ${accepted}; it is not a URL`, userinfo: `must be ${accepted}; it carries a user name or password` } : accepted;
  let url;
  try {
    url = new URL(value);
  } catch {
    return fail(name, refusals.notUrl);
  }
  if (url.username || url.password) return fail(name, refusals.userinfo);
  return url;
}

// src/inputs/smoke.ts
var METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
var RESERVED = /* @__PURE__ */ new Set(["host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "keep-alive"]);
var SENSITIVE = /authorization|cookie|token|secret|key|auth|password|session/i;
function readSmokeConfig(ctx) {
  const { input } = ctx;
  const targets = readTargets(ctx, input("smoke_test_urls"));
  const header = readTokenHeader(ctx, "smoke_test_header");
  const headers = readHeaders(ctx, input("smoke_test_headers"), header);
  const expected = readStatusSet(ctx, input("smoke_test_expected_status") || "200-299");
  const retryForMs = readSeconds(ctx, "smoke_test_retry_for", 300, 0, 3600) * 1e3;
  const timeoutMs = readSeconds(ctx, "smoke_test_timeout", 30, 1, 600) * 1e3;
  if (targets.length === 0) return void 0;
  return { targets, header, headers, expected, retryForMs, timeoutMs };
}
function checkSmokeCoverage({ fail }, smoke, coverage) {
  for (const target of smoke.targets) {
    const problem = target.deny ? void 0 : coverage(new URL(target.url));
    if (problem) fail("smoke_test_urls", problem);
  }
}
function readTargets(ctx, value) {
  const { fail } = ctx;
  const targets = [];
  for (const [index, raw] of value.split("\n").entries()) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const where = `line ${index + 1}`;
    const match = /^(?:([A-Za-z]+)\s+)?(\S+)$/.exec(line);
    const word = (match?.[1] ?? "GET").toUpperCase();
    const deny = word === "DENY";
    const method = deny ? "GET" : word;
    const text2 = match?.[2] ?? line;
    if (!match || !METHODS.includes(method)) {
      fail(
        "smoke_test_urls",
        `each line is URL, METHOD URL (${METHODS.join(", ")}) or DENY URL (IAP must refuse it without a token); ${where} is none of these`
      );
    }
    const url = parseUrlInput(ctx, "smoke_test_urls", text2, {
      notUrl: `${where} is not a URL; give absolute https URLs, one per line`,
      userinfo: `${where}: the URL carries a user name or password; send credentials in smoke_test_headers instead`
    });
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      fail("smoke_test_urls", `${where}: ${quote(displayUrl(url))} is not an http(s) URL`);
    }
    if (!carriesTokens(url)) {
      fail(
        "smoke_test_urls",
        `${where}: ${quote(displayUrl(url))} is plain http; the token is sent only over https (http only to localhost)`
      );
    }
    targets.push({ method, url: url.toString(), deny });
  }
  if (targets.length > 50) fail("smoke_test_urls", `lists ${targets.length} URLs; at most 50 are accepted`);
  return targets;
}
function readHeaders({ fail }, value, tokenHeader) {
  const headers = {};
  for (const raw of value.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon).trim().toLowerCase() : "";
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) {
      fail("smoke_test_headers", 'each line is "Name: value"; a line has no valid header name before its colon');
    }
    if (RESERVED.has(name)) fail("smoke_test_headers", `${name} is set by the HTTP client and cannot be given`);
    if (name === tokenHeader) {
      fail(
        "smoke_test_headers",
        `sets ${name}, which carries the IAP token; to send the app its own Authorization, set smoke_test_header: proxy-authorization`
      );
    }
    const headerValue = line.slice(colon + 1).trim();
    if (SENSITIVE.test(name)) registerSecret(headerValue.replace(/^(Bearer|Basic)\s+/i, ""));
    headers[name] = headerValue;
  }
  return headers;
}
function readStatusSet({ fail }, value) {
  const ranges = [];
  for (const part of value.split(/[\s,]+/).filter(Boolean)) {
    const exact = /^([1-5]\d\d)$/.exec(part);
    const range = /^([1-5]\d\d)-([1-5]\d\d)$/.exec(part);
    const klass = /^([1-5])xx$/i.exec(part);
    if (exact) ranges.push([Number(exact[1]), Number(exact[1])]);
    else if (range && Number(range[1]) <= Number(range[2])) ranges.push([Number(range[1]), Number(range[2])]);
    else if (klass) ranges.push([Number(klass[1]) * 100, Number(klass[1]) * 100 + 99]);
    else {
      fail(
        "smoke_test_expected_status",
        `${quote(part)} is not a status: give codes, ranges or classes separated by commas, such as 200, 200-299, 2xx,404`
      );
    }
  }
  if (ranges.length === 0) fail("smoke_test_expected_status", "is empty; for example 200-299");
  return { text: value, ranges };
}
function readSeconds(ctx, name, fallback, min, max) {
  return ctx.input(name) ? readWholeNumber(ctx, name, "seconds", min, max) : fallback;
}

// src/inputs/token-choice.ts
init_errors();
init_urls();
function chooseToken(ctx, known2, canSign) {
  const { input, fail, words: w } = ctx;
  const given = input("token_type") || "auto";
  if (given !== "auto" && given !== "id_token" && given !== "signed_jwt" && given !== "access_token") {
    return fail(
      "token_type",
      `must be auto (the default: chosen from the audience or the app's URL), id_token (a Google-signed ID token for an OAuth client ID), signed_jwt (a service-account-signed JWT for the app's URL) or access_token (an OAuth access token with the openid and email scopes, for apps that take them), got ${quote(given)}`
    );
  }
  const audience = input("audience");
  if (given === "access_token") {
    if (audience) {
      fail("audience", `does not go with ${w.name("token_type")} access_token: an access token has no audience. Leave it out.`);
    }
    return { tokenType: "access_token", audience: "", audienceFrom: void 0, why: void 0 };
  }
  const choice = chooseAmong(ctx, given, audience, known2, canSign);
  return given === "auto" ? { ...choice, auto: true } : choice;
}
function chooseAmong(ctx, given, audience, known2, canSign) {
  const { fail, words: w } = ctx;
  const isUrl = /^https?:\/\//i.test(audience);
  const wildcard = known2 ? `${known2.url.origin}/*` : void 0;
  if (given === "signed_jwt") {
    return {
      tokenType: "signed_jwt",
      audience: audience || wildcard || "",
      audienceFrom: void 0,
      why: audience || !known2 ? void 0 : `audience ${wildcard}, every path of ${known2.from}'s host.`
    };
  }
  if (given === "id_token") {
    if (audience || !known2) return { tokenType: "id_token", audience, audienceFrom: void 0, why: void 0 };
    return {
      tokenType: "id_token",
      audience: "",
      audienceFrom: known2.url.href,
      why: `the audience is the OAuth client named by IAP's sign-in redirect at ${displayUrl(known2.url)} (${known2.from}).`
    };
  }
  if (audience && isUrl) {
    if (!canSign.yes) fail("audience", cannotSign2(ctx, canSign.because, `is a URL, which only a signed JWT can carry`));
    return {
      tokenType: "signed_jwt",
      audience,
      audienceFrom: void 0,
      why: `${w.name("token_type")} auto: signed_jwt, because ${w.name("audience")} is a URL.`
    };
  }
  if (audience) {
    return {
      tokenType: "id_token",
      audience,
      audienceFrom: void 0,
      why: `${w.name("token_type")} auto: id_token, because ${w.name("audience")} is an OAuth client ID.`
    };
  }
  if (!known2) {
    return fail(
      "audience",
      `is required, or the app's URL (${w.name("app_url")}): the app's URL as https://HOST/* for a service-account-signed JWT, or the OAuth client ID (…apps.googleusercontent.com) for an ID token. With only the URL given, the audience is found from it.`
    );
  }
  if (canSign.yes) {
    return {
      tokenType: "signed_jwt",
      audience: wildcard ?? "",
      audienceFrom: void 0,
      why: `${w.name("token_type")} auto: signed_jwt for ${wildcard} (from ${known2.from}): a service-account-signed JWT needs no OAuth client, so it works for apps on Google's managed client too.`,
      signedFromUrl: true
    };
  }
  return {
    tokenType: "id_token",
    audience: "",
    audienceFrom: known2.url.href,
    why: `${w.name("token_type")} auto: id_token, because ${canSign.because} cannot sign a JWT; its audience is the OAuth client named by IAP's sign-in redirect at ${displayUrl(known2.url)} (${known2.from}).`
  };
}
function cannotSign2({ words: w }, who, what) {
  const setting = w.setting("service_account", "SA_EMAIL");
  return `${what}, and ${who} cannot sign one. ${setting.charAt(0).toUpperCase()}${setting.slice(1)} to sign as a service account you may impersonate (roles/iam.serviceAccountTokenCreator on it), or give ${w.name("audience")} as the app's OAuth client ID for an ID token (iap-token doctor URL finds it).`;
}
function readAppUrl(ctx) {
  const { input, fail } = ctx;
  const value = input("app_url");
  if (!value) return void 0;
  const url = parseUrlInput(ctx, "app_url", value, "the https URL of the app behind IAP, such as https://app.example.com");
  if (!carriesTokens(url)) return fail("app_url", `must be https (http only to localhost), got ${quote(displayUrl(url))}`);
  return url;
}

// src/inputs/doctor.ts
init_errors();
init_urls();
var IAP_RESOURCE = /^projects\/[a-z0-9-]{1,63}\/iap_web(\/(compute|compute-[a-z0-9-]{1,40}|appengine-[a-z0-9:.-]{1,100}|cloud_run-[a-z0-9-]{1,40})(\/services\/[A-Za-z0-9_.-]{1,100})?)?$/;
var MAX_ALSO = 10;
function readDoctorConfig(ctx, known2) {
  const { input, fail, words: w } = ctx;
  const enabled = readBoolean(ctx, input("doctor"), "doctor", false);
  const failOnProblem = readBoolean(ctx, input("doctor_fail_on_problem"), "doctor_fail_on_problem", false);
  const also = readAlso(ctx);
  const iapResource = input("iap_resource") || void 0;
  if (iapResource && !IAP_RESOURCE.test(iapResource)) {
    fail(
      "iap_resource",
      `must be an IAP resource name such as projects/PROJECT_NUMBER/iap_web/compute/services/BACKEND_SERVICE_ID or projects/PROJECT_NUMBER/iap_web/cloud_run-REGION/services/SERVICE, got ${quote(iapResource)}`
    );
  }
  if (!enabled) {
    if (failOnProblem) fail("doctor_fail_on_problem", `goes with ${w.name("doctor")}, which is not on.`);
    if (also.length) fail("doctor_also", `goes with ${w.name("doctor")}, which is not on.`);
    return void 0;
  }
  if (!known2) {
    return fail("doctor", `needs the app's URL: set ${w.name("app_url")} (or ${w.name("proxy_to")}, or ${w.name("smoke_test_urls")}).`);
  }
  return { url: known2.url.href, also, iapResource, failOnProblem };
}
function readAlso(ctx) {
  const { input, fail } = ctx;
  const urls = [];
  for (const [index, raw] of input("doctor_also").split("\n").entries()) {
    const text2 = raw.trim();
    if (!text2) continue;
    const url = parseUrlInput(ctx, "doctor_also", text2, {
      notUrl: `entry ${index + 1} is not a URL; give the app's other URLs (such as its run.app URL), one per line`,
      userinfo: `entry ${index + 1} carries a user name or password`
    });
    if (url.protocol !== "https:" && url.protocol !== "http:") fail("doctor_also", `${quote(displayUrl(url))} is not an http(s) URL`);
    urls.push(url.href);
  }
  if (urls.length > MAX_ALSO) fail("doctor_also", `lists ${urls.length} URLs; at most ${MAX_ALSO} are accepted`);
  return urls;
}

// src/inputs/agent.ts
init_errors();
init_urls();
function proxyTarget(ctx) {
  const { input, fail } = ctx;
  const value = input("proxy_to");
  if (!value) return void 0;
  const accepted = "an origin such as https://app.example.com (no path, query or user name)";
  const url = parseUrlInput(ctx, "proxy_to", value, accepted);
  if (!carriesTokens(url)) {
    fail("proxy_to", `must be https (http only to localhost): the token would cross the network in the clear; got ${displayUrl(url)}`);
  }
  if (url.pathname !== "/" && url.pathname !== "" || url.search || url.hash) {
    fail("proxy_to", `must be ${accepted}: every request's own path is forwarded to it; got ${displayUrl(url)}`);
  }
  return url.origin;
}
function proxiedHosts(ctx) {
  return { target: once(() => proxyTarget(ctx)), hosts: once(() => proxyHosts(ctx)) };
}
function once(read) {
  let value;
  return () => (value ??= { read: read() }).read;
}
function readAgentConfig(ctx, proxied, signedJwtAudience) {
  const { input, fail, words } = ctx;
  const target = proxied.target();
  const keepFresh = readBoolean(ctx, input("keep_fresh"), "keep_fresh", false);
  const header = readTokenHeader(ctx, "proxy_header");
  const { host, port } = readListen(ctx);
  const hosts = proxied.hosts();
  const limits = readLimits(ctx);
  if (!target && !hosts.length) return keepFresh ? { proxy: void 0, forward: void 0, limits } : void 0;
  if (target && signedJwtAudience !== void 0 && signedJwtAudience !== `${target}/*`) {
    fail(
      "audience",
      `must be ${target}/* with a proxy to ${target}: the proxy forwards every path, and a signed JWT's audience must cover them all (or leave ${words.name("audience")} out).`
    );
  }
  return {
    proxy: target ? { target, header, host, port } : void 0,
    forward: hosts.length ? { hosts, header, host, port: target ? 0 : port } : void 0,
    limits
  };
}
function readLimits(ctx) {
  return {
    maxConnections: readWholeNumber(ctx, "proxy_max_connections", "connections", 1, 1e5),
    responseTimeoutMs: readWholeNumber(ctx, "proxy_response_timeout", "seconds (0: no limit)", 0, 86400) * 1e3,
    tunnelIdleTimeoutMs: readWholeNumber(ctx, "proxy_tunnel_idle_timeout", "seconds (0: no limit)", 0, 86400) * 1e3
  };
}
var LABEL = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
var DNS_NAME = new RegExp(`^(\\*\\.)?${LABEL}(\\.${LABEL})+$`);
function proxyHosts({ input, fail }) {
  const hosts = [];
  for (const raw of input("proxy_hosts").split(/[\n,]/)) {
    const host = raw.trim().toLowerCase();
    if (!host) continue;
    const accepted = "a host name such as app.example.com, or *.example.com for its direct subdomains";
    if (host.includes("://")) fail("proxy_hosts", `${quote(host)} has a scheme; give ${accepted}`);
    if (/^\[|^\d+(\.\d+){3}$|^[0-9a-f:]+:[0-9a-f:]*$/.test(host)) {
      fail("proxy_hosts", `${quote(host)} is an IP address; IAP serves host names: give ${accepted}`);
    }
    if (host.includes(":")) fail("proxy_hosts", `${quote(host)} has a port; give the host alone (any port of it is intercepted)`);
    if (host.includes("*") && !/^\*\.[^*]+$/.test(host)) {
      fail("proxy_hosts", `${quote(host)}: a wildcard stands only for the first label (*.example.com), covering one label`);
    }
    if (!DNS_NAME.test(host)) fail("proxy_hosts", `${quote(host)} is not a host name: give ${accepted}`);
    if (!hosts.includes(host)) hosts.push(host);
  }
  if (hosts.length > 50) fail("proxy_hosts", `names ${hosts.length} hosts; at most 50 are accepted`);
  return hosts;
}
function readListen({ input, fail }) {
  const value = input("proxy_listen") || "127.0.0.1:0";
  const match = /^(\[[0-9A-Fa-f:]+\]|(?:\d{1,3}\.){3}\d{1,3}|localhost):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2] ?? NaN);
  const octets = /^[\d.]+$/.test(match?.[1] ?? "") ? (match?.[1] ?? "").split(".").map(Number) : [];
  if (!match || port > 65535 || octets.some((octet) => octet > 255)) {
    fail("proxy_listen", `must be HOST:PORT with an IP address (127.0.0.1, [::1]) and a port (0: any free one), got ${quote(value)}`);
  }
  const host = (match?.[1] ?? "").replace(/^\[|\]$/g, "");
  return { host: host === "localhost" ? "127.0.0.1" : host, port };
}

// src/inputs/audience.ts
init_errors();
init_urls();
function readAudience({ fail, words }, audience) {
  if (!audience) {
    fail(
      "audience",
      "is required: the OAuth client ID of the IAP-protected app (…apps.googleusercontent.com). Find it in the console under Security > Identity-Aware Proxy, or in the client_id of the sign-in page IAP redirects a browser to."
    );
  }
  if (/\s/.test(audience)) fail("audience", "must be a single value without spaces.");
  if (/^https?:\/\//i.test(audience)) {
    fail(
      "audience",
      `is a URL, but IAP accepts ID tokens only for an OAuth client ID (…apps.googleusercontent.com). For a URL audience, ${words.setting("token_type", "signed_jwt")}.`
    );
  }
  return audience;
}
function readUrlAudience(ctx, audience) {
  const { fail, words } = ctx;
  const accepted = "the app's URL, https://HOST/PATH or https://HOST/* for every path";
  const signedJwt = `with ${words.name("token_type")} signed_jwt`;
  if (!audience) fail("audience", `is required: ${signedJwt}, ${accepted}.`);
  const url = parseUrlInput(ctx, "audience", audience, {
    notUrl: `must be a URL ${signedJwt} (${accepted})`,
    userinfo: `must be a URL without a user name or password ${signedJwt} (${accepted})`
  });
  if (!carriesTokens(url)) fail("audience", `must be an https URL ${signedJwt} (${accepted}), got ${quote(displayUrl(url))}`);
  const normalized = `${url.origin}${url.pathname}`;
  const wildcard = normalized.indexOf("*");
  if (wildcard !== -1 && !(wildcard === normalized.length - 1 && normalized.endsWith("/*")) || url.search || url.hash) {
    fail("audience", `may end in /* but have no other wildcard, query or fragment (${accepted}), got ${quote(displayUrl(url))}`);
  }
  return normalized;
}
function readLifetime({ fail, words }, value, tokenType) {
  if (!value) return 3600;
  if (tokenType !== "signed_jwt") {
    fail(
      "lifetime",
      `applies to ${words.name("token_type")} signed_jwt only: Google sets an ID token's and an access token's lifetime (one hour).`
    );
  }
  const seconds2 = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(seconds2 >= 60 && seconds2 <= 3600)) {
    fail("lifetime", `must be whole seconds from 60 to 3600 (IAP refuses signed JWTs that live longer than an hour), got ${quote(value)}`);
  }
  return seconds2;
}

// src/inputs/source.ts
var import_node_fs = require("node:fs");
init_errors();
init_secrets();

// src/inputs/credentials-file.ts
init_email();
init_errors();
init_secrets();

// src/inputs/key-file.ts
var import_node_crypto = require("node:crypto");
init_email();
init_json();
init_secrets();
function parseCredentialsJson(raw, input, complain) {
  registerSecret(raw, { perLine: false });
  const text2 = raw.trim();
  const json = parseObject(text2) ?? (isBase64(text2) ? parseObject(Buffer.from(text2, "base64").toString("utf8")) : void 0);
  if (!json) {
    throw complain(input, "is neither JSON nor base64-encoded JSON. Paste the whole key file (or its base64) into a secret.");
  }
  registerSecretFields(json);
  return json;
}
function registerSecretFields(value, depth = 0) {
  if (!value || typeof value !== "object" || depth > 5) return;
  for (const [field, inner] of Object.entries(value)) {
    if (typeof inner === "string" && SECRET_FIELDS.includes(field)) registerSecret(inner.replace(/\\n/g, "\n"));
    else registerSecretFields(inner, depth + 1);
  }
}
var SECRET_FIELDS = ["private_key", "client_secret", "refresh_token"];
function parseServiceAccountKey(json, input, complain) {
  const missing = ["client_email", "private_key"].filter((field) => typeof json[field] !== "string" || !json[field]);
  if (missing.length > 0) {
    throw complain(input, `the service-account key lacks ${missing.join(" and ")}. Use the JSON key file as downloaded from Google Cloud.`);
  }
  const clientEmail = json["client_email"];
  if (!isEmail(clientEmail)) throw complain(input, "client_email is not an email address.");
  let privateKey;
  try {
    privateKey = (0, import_node_crypto.createPrivateKey)(json["private_key"].replace(/\\n/g, "\n"));
  } catch {
    throw complain(input, "private_key is not a PEM-encoded private key (-----BEGIN PRIVATE KEY-----).");
  }
  if (privateKey.asymmetricKeyType !== "rsa") {
    throw complain(input, "private_key is not an RSA key; Google service-account keys are RSA.");
  }
  const tokenUri = typeof json["token_uri"] === "string" && json["token_uri"] ? json["token_uri"] : void 0;
  if (tokenUri) checkFileUrl(tokenUri, input, "token_uri", complain);
  const privateKeyId = typeof json["private_key_id"] === "string" && json["private_key_id"] ? json["private_key_id"] : void 0;
  return { clientEmail, privateKey, privateKeyId, tokenUri };
}
function parseObject(text2) {
  return text2.startsWith("{") ? parseJsonObject(text2) : void 0;
}
function isBase64(text2) {
  const compact = text2.replace(/\s/g, "");
  return compact.length > 0 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(compact);
}

// src/inputs/credentials-file.ts
function parseCredentialsFile(json, input, origin, complain) {
  const type = json["type"] ?? "service_account";
  switch (type) {
    case "service_account":
      return { kind: "service_account_key", key: parseServiceAccountKey(json, input, complain), origin };
    case "authorized_user":
      return parseAuthorizedUser(json, input, origin, complain);
    case "external_account":
      return parseExternalAccount(json, input, origin, complain);
    case "impersonated_service_account":
      return parseImpersonated(json, input, origin, complain);
    default:
      throw complain(
        input,
        `has type ${JSON.stringify(type)}; accepted: service_account, authorized_user, external_account, impersonated_service_account.`
      );
  }
}
function text(json, field) {
  const value = json[field];
  return typeof value === "string" && value.trim() ? value.trim() : void 0;
}
function required(json, fields, input, what, complain) {
  const missing = fields.filter((field) => !text(json, field));
  if (missing.length) throw complain(input, `the ${what} lack ${missing.join(", ")}.`);
  return fields.map((field) => text(json, field) ?? "");
}
function parseAuthorizedUser(json, input, origin, complain) {
  const [clientId = "", clientSecret = "", refreshToken = ""] = required(
    json,
    ["client_id", "client_secret", "refresh_token"],
    input,
    "authorized_user credentials",
    complain
  );
  registerSecret(clientSecret);
  registerSecret(refreshToken);
  return { kind: "refresh_token", clientId, clientSecret, refreshToken, origin, clientOrigin: `the client in ${origin}` };
}
var STS_AUDIENCE = /^\/\/iam\.[a-z0-9.-]+\/(projects\/[a-z0-9-]+\/locations\/global\/workloadIdentityPools|locations\/global\/workforcePools)\/[a-z0-9-]+\/providers\/[a-z0-9-]+$/;
var IMPERSONATION_URL = /\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/;
function impersonatedAccount(url, input, complain) {
  checkFileUrl(url, input, "service_account_impersonation_url", complain);
  const email = IMPERSONATION_URL.exec(new URL(url).pathname)?.[1];
  if (!email || !isEmail(decodeURIComponent(email))) {
    throw complain(input, "service_account_impersonation_url must end in /projects/-/serviceAccounts/EMAIL:generateAccessToken.");
  }
  return decodeURIComponent(email);
}
function parseExternalAccount(json, input, origin, complain) {
  const [audience = "", subjectTokenType = ""] = required(
    json,
    ["audience", "subject_token_type"],
    input,
    "external_account credentials",
    complain
  );
  if (!STS_AUDIENCE.test(audience)) {
    throw complain(
      input,
      "audience must be a Workload (or Workforce) Identity provider: //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER."
    );
  }
  const tokenUrl = text(json, "token_url") ?? "https://sts.googleapis.com/v1/token";
  checkFileUrl(tokenUrl, input, "token_url", complain);
  const impersonationUrl = text(json, "service_account_impersonation_url");
  return {
    kind: "external_account",
    audience,
    subjectTokenType,
    tokenUrl,
    subjectToken: parseCredentialSource(json, input, complain),
    impersonate: impersonationUrl ? impersonatedAccount(impersonationUrl, input, complain) : void 0,
    workforcePoolUserProject: text(json, "workforce_pool_user_project"),
    origin
  };
}
function parseCredentialSource(file, input, complain) {
  const value = file["credential_source"];
  if (!value || typeof value !== "object") throw complain(input, "the external_account credentials lack credential_source.");
  const source = value;
  const libraryKind = source["environment_id"] ? "aws" : source["executable"] ? "executable" : source["certificate"] ? "certificate" : void 0;
  if (libraryKind) return { from: "library", kind: libraryKind, file };
  const format = source["format"] ?? {};
  const formatType = format["type"] ?? "text";
  if (formatType !== "text" && formatType !== "json") {
    throw complain(input, `credential_source.format.type must be text or json, got ${JSON.stringify(formatType)}.`);
  }
  let field;
  if (formatType === "json") {
    field = typeof format["subject_token_field_name"] === "string" ? format["subject_token_field_name"] : void 0;
    if (!field) throw complain(input, "credential_source.format of type json needs subject_token_field_name.");
  }
  if (typeof source["file"] === "string" && source["file"]) return { from: "file", path: source["file"], field };
  if (typeof source["url"] === "string" && source["url"]) {
    checkFileUrl(source["url"], input, "credential_source.url", complain);
    const headers = {};
    for (const [name, header] of Object.entries(source["headers"] ?? {})) {
      if (typeof header !== "string") throw complain(input, `credential_source.headers.${name} must be a string.`);
      registerSecret(header.replace(/^Bearer\s+/i, ""));
      headers[name.toLowerCase()] = header;
    }
    return { from: "url", url: source["url"], headers, field };
  }
  throw complain(input, "credential_source names no source: expected file, url, environment_id (AWS), executable or certificate.");
}
function parseImpersonated(json, input, origin, complain) {
  const [url = ""] = required(json, ["service_account_impersonation_url"], input, "impersonated_service_account credentials", complain);
  const serviceAccount = impersonatedAccount(url, input, complain);
  const sourceJson = json["source_credentials"];
  if (!sourceJson || typeof sourceJson !== "object") {
    throw complain(input, "the impersonated_service_account credentials lack source_credentials.");
  }
  const inner = parseCredentialsFile(sourceJson, `${input} (source_credentials)`, origin, complain);
  if (inner.kind !== "service_account_key" && inner.kind !== "refresh_token") {
    throw complain(input, "source_credentials must be of type service_account or authorized_user.");
  }
  const delegates = (Array.isArray(json["delegates"]) ? json["delegates"] : []).map((entry) => {
    const email = String(entry).replace(/^projects\/-\/serviceAccounts\//, "");
    if (!isEmail(email)) throw complain(input, `a delegates entry is not a service account email: ${quote(String(entry))}.`);
    return email;
  });
  return { kind: "impersonated_service_account", inner, serviceAccount, delegates, origin };
}

// src/inputs/source.ts
var POOL_OR_PROVIDER_ID = /^[a-z0-9-]{4,32}$/;
var PROVIDER_PATTERN = /^projects\/([^/]+)\/locations\/global\/workloadIdentityPools\/([^/]+)\/providers\/([^/]+)$/;
var SOURCE_INPUTS = ["credentials_json", "workload_identity_provider", "refresh_token"];
function readSource(ctx, serviceAccount, iamHost) {
  const { env, input, words } = ctx;
  const given = SOURCE_INPUTS.filter((name) => input(name));
  if (given.length > 1) {
    const names = given.map(words.name).join(" and ");
    throw words.complain(
      names,
      `${names} are ${given.length === 2 ? "both" : "all"} set; give one credential source. Workload Identity Federation needs no long-lived secret, so it is the one to keep.`
    );
  }
  for (const name of ["oauth_client_id", "oauth_client_secret"]) {
    if (input(name) && !input("refresh_token")) ctx.fail(name, `goes with ${words.name("refresh_token")}, which is not set.`);
  }
  const source = readExplicitSource(ctx, serviceAccount, iamHost) ?? readAmbientSource(ctx);
  const subject = source.kind === "external_account" ? source.subjectToken : void 0;
  if (subject?.from === "library" && subject.kind === "executable" && env["GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES"] !== "1") {
    throw words.complain(
      "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES",
      `must be 1 to run the command that the credentials in ${source.origin} name (credential_source.executable), as Google's libraries require.`
    );
  }
  if (source.kind === "external_account" && !source.impersonate && !serviceAccount) {
    ctx.fail(
      "service_account",
      `is required: the external_account credentials in ${source.origin} have no service_account_impersonation_url, and a federated identity can mint no token IAP takes by itself (no ID token, signed JWT or access token of its own).`
    );
  }
  return source;
}
function readExplicitSource(ctx, serviceAccount, iamHost) {
  const { input, words, fail } = ctx;
  const credentialsJson = input("credentials_json");
  if (credentialsJson) {
    const name = words.name("credentials_json");
    return parseCredentialsFile(parseCredentialsJson(credentialsJson, name, words.complain), name, name, words.complain);
  }
  const provider = input("workload_identity_provider");
  if (provider) return readWorkloadIdentity(ctx, provider, serviceAccount, iamHost);
  if (input("workload_identity_audience")) {
    fail("workload_identity_audience", `goes with ${words.name("workload_identity_provider")}, which is not set.`);
  }
  const refreshToken = input("refresh_token");
  if (refreshToken) {
    const clientId = input("oauth_client_id");
    const clientSecret = input("oauth_client_secret");
    for (const value of [refreshToken, clientSecret, clientId]) registerSecret(value);
    for (const [name, value] of [
      ["oauth_client_id", clientId],
      ["oauth_client_secret", clientSecret]
    ]) {
      if (!value) {
        fail(name, `is required with ${words.name("refresh_token")}: the desktop OAuth client that obtained the refresh token.`);
      }
    }
    return {
      kind: "refresh_token",
      clientId,
      clientSecret,
      refreshToken,
      origin: words.name("refresh_token"),
      clientOrigin: `${words.name("oauth_client_id")} and ${words.name("oauth_client_secret")}`
    };
  }
  return void 0;
}
function readAmbientSource({ env, words }) {
  const adc = env["GOOGLE_APPLICATION_CREDENTIALS"]?.trim();
  if (adc) {
    const name = "GOOGLE_APPLICATION_CREDENTIALS";
    let raw;
    try {
      raw = (0, import_node_fs.readFileSync)(adc, "utf8");
    } catch (error2) {
      const code = error2.code;
      throw words.complain(
        name,
        `names ${adc}, which cannot be read (${code ?? "error"}). Point it at a credentials JSON file, or unset it.`
      );
    }
    return parseCredentialsFile(parseCredentialsJson(raw, name, words.complain), name, `${name} (${adc})`, words.complain);
  }
  const host = env["GCE_METADATA_HOST"]?.trim() || "metadata.google.internal";
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$/.test(host)) {
    throw words.complain("GCE_METADATA_HOST", `must be host[:port] without a scheme, got ${quote(host)}`);
  }
  const origin = host === "metadata.google.internal" ? "the metadata server" : `the metadata server at ${host}`;
  return { kind: "metadata", host, origin, unreachable: words.noCredential(origin), otherwise: words.otherwise };
}
function readWorkloadIdentity(ctx, provider, serviceAccount, iamHost) {
  const { env, input, words, fail } = ctx;
  const name = "workload_identity_provider";
  const accepted = "projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER";
  if (/^(https:)?\/\/iam\./.test(provider)) {
    fail(name, `must be the resource name without the //iam.googleapis.com/ prefix: ${accepted}`);
  }
  const match = PROVIDER_PATTERN.exec(provider);
  if (!match) return fail(name, `must look like ${accepted}, got ${quote(provider)}`);
  const [, projectNumber = "", pool = "", providerId = ""] = match;
  if (!/^\d+$/.test(projectNumber)) {
    fail(
      name,
      `must use the project number, not the project ID ${quote(projectNumber)}. Find it with: gcloud projects describe ${projectNumber} --format='value(projectNumber)'`
    );
  }
  for (const [what, id] of [
    ["pool", pool],
    ["provider", providerId]
  ]) {
    if (!POOL_OR_PROVIDER_ID.test(id)) {
      fail(name, `the ${what} ID ${quote(id)} is not valid: 4 to 32 lowercase letters, digits or hyphens.`);
    }
  }
  if (!serviceAccount) {
    fail(
      "service_account",
      `is required with ${words.name(name)}: a federated identity can mint no token IAP takes by itself (no ID token, signed JWT or access token of its own), so the action impersonates this service account.`
    );
  }
  const oidcRequestUrl = env["ACTIONS_ID_TOKEN_REQUEST_URL"] ?? "";
  const oidcRequestToken = env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] ?? "";
  registerSecret(oidcRequestToken);
  if (!oidcRequestUrl || !oidcRequestToken) {
    const missing = !oidcRequestUrl ? "ACTIONS_ID_TOKEN_REQUEST_URL is not set" : "ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set";
    fail(
      name,
      `needs the job's GitHub OIDC token, but ${missing}. Give the job \`permissions: id-token: write\` (with contents: read). Pull requests from forks never get an OIDC token: run this on push, or on pull_request_target with care.`
    );
  }
  checkEndpointUrl(oidcRequestUrl, "ACTIONS_ID_TOKEN_REQUEST_URL", words.complain);
  const oidcAudience = input("workload_identity_audience") || `https://${iamHost}/${provider}`;
  return {
    kind: "workload_identity",
    provider,
    projectNumber,
    pool,
    oidcAudience,
    oidcRequestUrl,
    oidcRequestToken,
    origin: words.name(name)
  };
}

// src/inputs/vocabulary.ts
init_errors();
var INPUT_DEFAULTS = {
  audience: "",
  token_type: "auto",
  app_url: "",
  lifetime: "",
  workload_identity_provider: "",
  workload_identity_audience: "",
  credentials_json: "",
  refresh_token: "",
  oauth_client_id: "",
  oauth_client_secret: "",
  service_account: "",
  delegates: "",
  include_email: "true",
  export_variable: "IAP_TOKEN",
  universe: "googleapis.com",
  smoke_test_urls: "",
  smoke_test_header: "authorization",
  smoke_test_headers: "",
  smoke_test_expected_status: "200-299",
  smoke_test_retry_for: "300",
  smoke_test_timeout: "30",
  keep_fresh: "false",
  proxy_to: "",
  proxy_header: "authorization",
  proxy_listen: "127.0.0.1:0",
  proxy_hosts: "",
  proxy_max_connections: "1000",
  proxy_response_timeout: "120",
  proxy_tunnel_idle_timeout: "120",
  doctor: "false",
  doctor_fail_on_problem: "false",
  doctor_also: "",
  iap_resource: ""
};
var ACTION_CREDENTIALS = "workload_identity_provider, credentials_json, or refresh_token with oauth_client_id and oauth_client_secret (or set GOOGLE_APPLICATION_CREDENTIALS)";
var ACTION_VOCABULARY = {
  name: (input) => input,
  setting: (input, value) => `set ${input}: ${value}`,
  complain: complainAsAction,
  noCredential: (asked) => `No credential input is set, so the action asked ${asked}, and none answered: this runner is not on Google Cloud. Give the action a credential: ${ACTION_CREDENTIALS}.`,
  otherwise: `or give the action a credential: ${ACTION_CREDENTIALS}.`
};
function givenInputs(read) {
  return Object.fromEntries(Object.keys(INPUT_DEFAULTS).map((name) => [name, read(name)]));
}
function actionInputs(env) {
  return (name) => env[`INPUT_${name.toUpperCase()}`]?.trim();
}

// src/inputs/index.ts
var ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
var DOMAIN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/;
function readConfig(read, env, words) {
  const input = (name) => read(name) ?? INPUT_DEFAULTS[name];
  const ctx = {
    env,
    input,
    words,
    fail: (name, problem) => {
      throw words.complain(words.name(name), problem);
    }
  };
  const { fail, words: w } = ctx;
  const universe = input("universe") || "googleapis.com";
  if (!DOMAIN.test(universe)) fail("universe", `must be a domain such as googleapis.com, got ${quote(universe)}`);
  const endpoints = resolveEndpoints(universe, env, words.complain);
  const serviceAccount = optionalEmail(ctx, input("service_account"), "service_account");
  const delegates = readDelegates(ctx, input("delegates"));
  if (delegates.length > 0 && !serviceAccount) {
    fail("delegates", `needs ${w.name("service_account")}: delegates are the chain from the caller to that service account.`);
  }
  const source = readSource(ctx, serviceAccount, endpoints.iamHost);
  const appUrl = readAppUrl(ctx);
  const smokeTargets = readSmokeConfig(ctx);
  const proxied = proxiedHosts(ctx);
  const known2 = knownUrl(ctx, appUrl, proxied, smokeTargets?.targets);
  const canSign = signingAbility(source, serviceAccount);
  const choice = chooseToken(ctx, known2, canSign);
  const { tokenType } = choice;
  const audience = tokenType === "signed_jwt" ? readUrlAudience(ctx, choice.audience) : choice.audienceFrom || tokenType === "access_token" ? "" : readAudience(ctx, choice.audience);
  const unscoped = tokenType === "access_token" ? cannotMintAccessToken(source, serviceAccount, env) : void 0;
  if (unscoped) {
    fail(
      "token_type",
      `access_token: ${unscoped}. To mint one as a service account you may impersonate, ${w.setting("service_account", "SA_EMAIL")} (IAM generateAccessToken gives the openid and email scopes); or leave ${w.name("token_type")} auto for a signed JWT or an ID token.`
    );
  }
  const lifetimeSeconds = readLifetime(ctx, input("lifetime"), tokenType);
  const unsigned = tokenType === "signed_jwt" ? cannotSign(source, serviceAccount) : void 0;
  if (unsigned === "user") {
    fail(
      "service_account",
      `is required for ${w.name("token_type")} signed_jwt with a refresh token: only a service account can sign the JWT (IAM signJwt), and a user has none.`
    );
  }
  if (unsigned === "no-key-id") {
    throw words.complain(
      source.origin,
      "has no private_key_id: IAP finds the key that signed a JWT by its kid, so a key signing locally needs it. Use the key file as downloaded."
    );
  }
  if (smokeTargets && tokenType === "signed_jwt") checkSmokeCoverage(ctx, smokeTargets, (url) => audienceCovers(audience, url));
  const uncovered = tokenType === "signed_jwt" && appUrl ? audienceCovers(audience, appUrl) : void 0;
  if (uncovered) fail("audience", `${uncovered} (${w.name("app_url")}).`);
  const smoke = smokeTargets;
  return {
    tokenType,
    audience,
    audienceFrom: choice.audienceFrom,
    auto: choice.auto === true,
    choice: choice.why,
    signedFromUrl: choice.signedFromUrl === true,
    appUrl: known2?.url.href,
    doctor: readDoctorConfig(ctx, known2),
    lifetimeSeconds,
    source,
    serviceAccount,
    delegates,
    includeEmail: readBoolean(ctx, input("include_email"), "include_email", true),
    exportVariable: readExportVariable(ctx, input("export_variable")),
    universe,
    endpoints,
    smoke,
    agent: readAgentConfig(ctx, proxied, tokenType === "signed_jwt" ? audience : void 0),
    nameOf: words.name
  };
}
function signingAbility(source, serviceAccount) {
  const why = cannotSign(source, serviceAccount);
  if (!why) return { yes: true, because: "" };
  return { yes: false, because: `${why === "user" ? "a user's refresh token" : "a key without private_key_id"} (${source.origin})` };
}
function knownUrl({ words: w }, appUrl, proxied, smoke) {
  if (appUrl) return { url: appUrl, from: w.name("app_url") };
  const target = proxied.target();
  if (target) return { url: new URL(target), from: w.name("proxy_to") };
  const host = proxied.hosts().find((name) => !name.startsWith("*."));
  if (host) return { url: new URL(`https://${host}/`), from: w.name("proxy_hosts") };
  const tested = smoke?.find((target2) => !target2.deny);
  return tested ? { url: new URL(tested.url), from: w.name("smoke_test_urls") } : void 0;
}
function optionalEmail({ fail }, value, name) {
  if (!value) return void 0;
  if (!isEmail(value)) fail(name, `must be a service account email (NAME@PROJECT_ID.iam.gserviceaccount.com), got ${quote(value)}`);
  return value;
}
function readDelegates({ fail }, value) {
  const emails = value.split(/[,\n]/).map((part) => part.trim()).filter(Boolean);
  for (const email of emails) {
    if (!isEmail(email)) fail("delegates", `${quote(email)} is not a service account email; list emails separated by commas or newlines.`);
  }
  return emails;
}
function readExportVariable({ fail }, value) {
  if (!value) return void 0;
  if (!ENV_NAME.test(value)) {
    fail(
      "export_variable",
      `must be an environment variable name (letters, digits, underscores; not starting with a digit), got ${quote(value)}`
    );
  }
  if (/^(GITHUB_|RUNNER_|ACTIONS_)/i.test(value) || /^(NODE_OPTIONS|PATH)$/i.test(value)) {
    fail("export_variable", `${quote(value)} is reserved by the runner; choose another name such as IAP_TOKEN.`);
  }
  return value;
}

// src/main.ts
init_pipeline();

// src/publish.ts
var import_node_fs2 = require("node:fs");
init_report();
init_secrets();
init_errors();

// src/log.ts
init_secrets();
var BREAK = "​";
function sanitize(text2) {
  return redact(text2).split(/\r\n|\r|\n/).map((line) => line.replace(/^([\s\u0085]*)::/, `$1:${BREAK}:`).replaceAll("##[", `#${BREAK}#[`)).join("\n");
}
var log = {
  info: (text2) => info(sanitize(text2)),
  warning: (text2) => warning(sanitize(text2)),
  /** The step's one error: it fails the step. */
  fail: (text2) => setFailed(sanitize(text2)),
  group: (title, lines) => {
    startGroup(sanitize(title));
    for (const line of lines) info(sanitize(line));
    endGroup();
  }
};

// src/publish.ts
init_secrets();
init_check();
async function publish(minted, config, env, results, agent) {
  registerSecret(minted.token);
  checkWritable(env, agent ? ["GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STATE"] : ["GITHUB_OUTPUT", "GITHUB_ENV"]);
  const outputs = outputsOf(minted, results, agent);
  const variables = variablesOf(minted, config, agent);
  if (agent) {
    const { pid, run: run2, tokenFile, statsFile, logFile } = agent;
    saveState("agent", JSON.stringify({ pid, run: run2, tokenFile, statsFile, logFile }));
  }
  for (const [name, value] of Object.entries(outputs)) setOutput(name, value);
  for (const [name, value] of Object.entries(variables)) exportVariable(name, value);
  announce(config, agent);
  await writeSummary(minted, results, env);
}
function outputsOf(minted, results, agent) {
  return {
    token: minted.token,
    token_type: minted.kind,
    expires_at: rfc3339(minted.expiresAt),
    principal: minted.principal,
    ...results ? { smoke_test_results: JSON.stringify(results.map(({ diagnosis: _diagnosis, refusal: _refusal, ...result }) => result)) } : {},
    ...agent ? { token_file: agent.tokenFile } : {},
    ...agent?.proxyUrl ? { proxy_url: agent.proxyUrl } : {},
    ...agent?.forwardProxyUrl ? { forward_proxy_url: agent.forwardProxyUrl } : {},
    ...agent?.caFile ? { proxy_ca_file: agent.caFile } : {},
    ...agent?.spki ? { proxy_spki: agent.spki } : {}
  };
}
function variablesOf(minted, config, agent) {
  const variables = {};
  if (config.exportVariable) {
    variables[config.exportVariable] = minted.token;
    if (agent) variables[`${config.exportVariable}_FILE`] = agent.tokenFile;
  }
  if (agent?.proxyUrl) variables["IAP_PROXY_URL"] = agent.proxyUrl;
  if (agent?.forwardProxyUrl) variables["IAP_FORWARD_PROXY"] = agent.forwardProxyUrl;
  if (agent?.caFile) variables["IAP_PROXY_CA_FILE"] = agent.caFile;
  if (agent?.spki) variables["IAP_PROXY_SPKI"] = agent.spki;
  return variables;
}
function announce(config, agent) {
  if (config.exportVariable) log.info(`Exported the token as $${config.exportVariable} for the job's next steps.`);
  if (!agent) return;
  log.info(
    `The token agent (pid ${agent.pid}) keeps ${agent.tokenFile} fresh${config.exportVariable ? ` ($${config.exportVariable}_FILE)` : ""} until the job ends.`
  );
  if (agent.forwardProxyUrl) {
    log.info(
      `Forward proxy ready: $IAP_FORWARD_PROXY is ${agent.forwardProxyUrl}; browsers trust its CA in $IAP_PROXY_CA_FILE (${agent.caFile ?? ""}).`
    );
  }
  if (agent.proxyUrl) {
    log.info(
      `Proxy ready: $IAP_PROXY_URL is ${agent.proxyUrl}; it adds a fresh token to every request to ${config.agent?.proxy?.target ?? ""}.`
    );
  }
}
function checkWritable(env, names) {
  for (const name of names) {
    const path = env[name];
    if (!path) continue;
    try {
      (0, import_node_fs2.closeSync)((0, import_node_fs2.openSync)(path, "a"));
    } catch (error2) {
      throw new ActionError(
        `The runner's ${name} file cannot be written (${error2.code ?? "error"}); nothing was published.`
      );
    }
  }
}
async function writeSummary(minted, results, env) {
  if (!env["GITHUB_STEP_SUMMARY"]) return;
  try {
    await buildSummary(minted, results).write();
  } catch (error2) {
    log.warning(`Could not write the step summary: ${messageOf(error2)}`);
  }
}
async function writeDoctorSummary(report, env) {
  if (!env["GITHUB_STEP_SUMMARY"]) return;
  try {
    await summary.addHeading("IAP doctor", 3).addRaw(`<p>${report.verdict.works ? "✅" : "❌"} ${escapeHtml(report.verdict.text)}</p>`, true).addRaw(`<pre>${escapeHtml(redact(renderReport(report)))}</pre>`, true).write();
  } catch (error2) {
    log.warning(`Could not write the step summary: ${messageOf(error2)}`);
  }
}
function escapeHtml(text2) {
  return text2.replace(/[&<>"'[\]()!*_`|~\\#]/g, (char) => `&#${char.charCodeAt(0)};`).replace(/\r?\n|\r/g, "<br>");
}
function buildSummary(minted, results) {
  const header = (cells) => cells.map((data) => ({ data: escapeHtml(data), header: true }));
  const row = (cells) => cells.map(escapeHtml);
  summary.addHeading("IAP token", 3).addTable([
    header(["Principal", "Token type", "Audience", "Expires"]),
    row([minted.principal, kindOf(minted.kind), minted.audience || "none (scopes openid and email)", rfc3339(minted.expiresAt)])
  ]);
  if (results) {
    summary.addHeading("Smoke tests", 3).addTable([
      header(["Result", "Request", "Status", "Answered by", "Attempts", "Time"]),
      ...results.map(
        (result) => row([
          result.ok ? "✅" : "❌",
          `${result.deny ? "DENY" : result.method} ${result.url}`,
          result.status === null ? "no answer" : String(result.status),
          result.from === "iap" ? "IAP" : result.from === "app" ? "the app" : "—",
          String(result.attempts),
          `${(result.ms / 1e3).toFixed(1)} s`
        ])
      )
    ]);
    const failed = results.filter((result) => result.diagnosis);
    if (failed.length) {
      summary.addList(
        failed.map((result) => escapeHtml(`${result.deny ? "DENY" : result.method} ${result.url}: ${result.diagnosis ?? ""}`))
      );
    }
  }
  return summary;
}

// src/main.ts
init_secrets();
async function run(env = process.env) {
  setMasker(setSecret);
  try {
    const read = actionInputs(env);
    const config = readConfig(read, env, ACTION_VOCABULARY);
    const minter = createMinter(config, { env, report: log });
    if (config.doctor) await diagnose2(config, config.doctor, minter, env);
    const first = await minter.mint();
    const { minted, results } = config.smoke ? await smokeTest(config.smoke, first, minter, env) : { minted: first, results: void 0 };
    const agent = config.agent ? await startAgentProcess(read, env, minted) : void 0;
    try {
      await publish(minted, config, env, results, agent);
    } catch (error2) {
      if (agent) await withdrawAgent(agent);
      throw error2;
    }
  } catch (error2) {
    log.fail(explain(error2));
  }
}
async function diagnose2(config, doctor, { http: http2, credential }, env) {
  const { runDoctor: runDoctor2 } = await Promise.resolve().then(() => (init_run(), run_exports));
  const { renderReport: renderReport2 } = await Promise.resolve().then(() => (init_report(), report_exports));
  const report = await runDoctor2({ config, doctor, env, http: http2, credential, progress: log.info });
  for (const line of renderReport2(report).split("\n")) log.info(line);
  await writeDoctorSummary(report, env);
  const found = report.problems.length + (report.verdict.works ? 0 : 1);
  if (doctor.failOnProblem && found > 0) {
    const first = report.problems[0]?.title ?? "no token got through IAP";
    throw new ActionError(
      `The doctor found ${report.problems.length || 1} problem(s), and ${config.nameOf("doctor_fail_on_problem")} is true: ${first}. The step summary has the report and each fix.`
    );
  }
}
async function startAgentProcess(read, env, minted) {
  const { launchAgent: launchAgent2 } = await Promise.resolve().then(() => (init_launch(), launch_exports));
  log.info("Starting the token agent for the rest of the job.");
  return launchAgent2(givenInputs(read), env, minted, log.info);
}
async function withdrawAgent(agent) {
  const { stopAgent: stopAgent2 } = await Promise.resolve().then(() => (init_launch(), launch_exports));
  const { removeTokenFile: removeTokenFile2 } = await Promise.resolve().then(() => (init_token_file(), token_file_exports));
  await stopAgent2(agent.pid, agent.run, log.warning);
  removeTokenFile2(agent.tokenFile);
}
async function smokeTest(smoke, minted, { http: http2, fallback }, env) {
  const { runSmokeTests: runSmokeTests2, smokeFailure: smokeFailure2, refusedForAudience: refusedForAudience2 } = await Promise.resolve().then(() => (init_run2(), run_exports2));
  log.info(`Smoke testing ${smoke.targets.length} URL(s) side by side, retrying what can heal for up to ${smoke.retryForMs / 1e3} s.`);
  const results = await runSmokeTests2(smoke, minted, http2, log.info);
  const failure = smokeFailure2(results);
  if (!failure) return { minted, results };
  if (fallback && minted.kind === "id_token" && refusedForAudience2(results)) {
    const { trySmokeWithAccessToken: trySmokeWithAccessToken2 } = await Promise.resolve().then(() => (init_fallback(), fallback_exports));
    const instead = await trySmokeWithAccessToken2(smoke, fallback, http2, failure, log.info);
    if (instead.passed) return { minted: instead.minted, results: instead.results };
    await writeSummary(minted, results, env);
    throw instead.failure;
  }
  await writeSummary(minted, results, env);
  throw failure;
}

// src/index.ts
void run().then(() => process.stdout.write("", () => process.stderr.write("", () => process.exit())));
