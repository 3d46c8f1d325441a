/* FundamentalML live panels: the shipped decoders and generators, run in the page by ONNX Runtime Web.
 *
 * A chapter's widget output carries a hidden <details class="fml-live"> (see fundamentalml/widgets.py,
 * live_panel_html). This script, added to every page by book/_ext/fml_live.py, shows those panels and builds
 * their controls; nothing heavy loads until a reader opens one. Opening it loads the runtime (served from the
 * site, book/_vendor/onnxruntime-web) and the chosen model (_static/fml-live/<name>.onnx, exported at build
 * time); another model loads when it is picked. Without scripts, or when the runtime fails, the panel stays
 * hidden or says so, and the pre-rendered stand-in beside it is what the reader uses.
 *
 * Latent paths follow fundamentalml/models/latent.py exactly: lerp, and slerp with the angle from the
 * half-angle's tangent, falling back to lerp when |sin(omega)| < 1e-4 ((anti-)parallel codes).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var STATIC = new URL(".", script ? script.src : document.baseURI);  // the site's _static/
  var RUNTIME = new URL("../onnxruntime-web/", STATIC);
  var MODELS = new URL("fml-live/", STATIC);
  var manifestPromise = null, runtimePromise = null, sessions = {};

  // ------------------------------------------------------------------------------------------ maths

  function norm(v) { var s = 0; for (var i = 0; i < v.length; i++) s += v[i] * v[i]; return Math.sqrt(s); }

  /** The code at fraction t of the straight line from a to b. */
  function lerp(a, b, t) {
    var out = new Float32Array(a.length);
    for (var i = 0; i < a.length; i++) out[i] = (1 - t) * a[i] + t * b[i];
    return out;
  }

  /** The code at fraction t of the great circle from a to b (latent.py's slerp; lerp for (anti-)parallel codes). */
  function slerp(a, b, t, eps) {
    eps = eps === undefined ? 1e-7 : eps;
    var na = Math.max(norm(a), eps), nb = Math.max(norm(b), eps), d = new Float64Array(a.length), s = new Float64Array(a.length);
    for (var i = 0; i < a.length; i++) { d[i] = a[i] / na - b[i] / nb; s[i] = a[i] / na + b[i] / nb; }
    var omega = 2 * Math.atan2(norm(d), norm(s));
    if (Math.abs(Math.sin(omega)) < 1e-4) return lerp(a, b, t);
    var wa = Math.sin((1 - t) * omega) / Math.sin(omega), wb = Math.sin(t * omega) / Math.sin(omega);
    var out = new Float32Array(a.length);
    for (var j = 0; j < a.length; j++) out[j] = wa * a[j] + wb * b[j];
    return out;
  }

  function interpolate(a, b, t, method) {
    if (method === "linear") return lerp(a, b, t);
    if (method === "slerp") return slerp(a, b, t);
    throw new Error("Unknown interpolation method " + method + ": use 'linear' or 'slerp'.");
  }

  /** n standard-normal numbers (Box-Muller on crypto randomness): fresh noise on every call. */
  function gaussian(n) {
    var u = new Uint32Array(2 * n), out = new Float32Array(n);
    crypto.getRandomValues(u);
    for (var i = 0; i < n; i++) {
      var u1 = (u[2 * i] + 1) / 4294967297, u2 = u[2 * i + 1] / 4294967296;
      out[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------ loading

  function manifest() {
    if (!manifestPromise) {
      manifestPromise = fetch(new URL("models.json", MODELS)).then(function (r) {
        if (!r.ok) throw new Error("models.json: HTTP " + r.status);
        return r.json();
      });
    }
    return manifestPromise;
  }

  function runtime() {
    if (!runtimePromise) {
      runtimePromise = new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = new URL("ort.wasm.min.js", RUNTIME).href;
        s.onload = function () {
          if (!window.ort) { reject(new Error("ONNX Runtime Web did not define ort")); return; }
          window.ort.env.wasm.wasmPaths = RUNTIME.href;  // the .mjs and .wasm beside the bundle, never a CDN
          window.ort.env.wasm.numThreads = 1;
          window.ort.env.wasm.proxy = false;
          resolve(window.ort);
        };
        s.onerror = function () { reject(new Error("could not load " + s.src)); };
        document.head.appendChild(s);
      });
      runtimePromise.catch(function () { runtimePromise = null; });
    }
    return runtimePromise;
  }

  function session(name) {
    if (!sessions[name]) {
      sessions[name] = Promise.all([runtime(), manifest()]).then(function (got) {
        var ort = got[0], entry = got[1].models[name];
        if (!entry) throw new Error("no exported model " + name);
        return fetch(new URL(entry.file, MODELS)).then(function (r) {
          if (!r.ok) throw new Error(entry.file + ": HTTP " + r.status);
          return r.arrayBuffer();
        }).then(function (buf) {
          return ort.InferenceSession.create(buf, { executionProviders: ["wasm"] });
        }).then(function (s) { return { session: s, entry: entry, ort: ort }; });
      });
      sessions[name].catch(function () { delete sessions[name]; });
    }
    return sessions[name];
  }

  /** Decode a batch: codes (n x d, flat) and optional one-hot labels; returns {data, dims} in [0, 1]. */
  function decode(model, codes, n, labels) {
    var entry = model.entry, feeds = { z: new model.ort.Tensor("float32", codes, [n, entry.inputs.z]) };
    if (entry.inputs.label) feeds.label = new model.ort.Tensor("float32", labels, [n, entry.inputs.label]);
    return model.session.run(feeds).then(function (out) { return out[model.session.outputNames[0]]; });
  }

  /** Draw n images [n, C, H, W] side by side on a canvas at the images' own resolution (CSS enlarges it). */
  function draw(canvas, image) {
    var n = image.dims[0], c = image.dims[1], h = image.dims[2], w = image.dims[3], data = image.data;
    canvas.width = n * w; canvas.height = h;
    var ctx = canvas.getContext("2d"), px = ctx.createImageData(n * w, h);
    for (var k = 0; k < n; k++) for (var y = 0; y < h; y++) for (var x = 0; x < w; x++) {
      var o = 4 * (y * n * w + k * w + x);
      for (var ch = 0; ch < 3; ch++) {
        var v = data[((k * c + (c === 3 ? ch : 0)) * h + y) * w + x];
        px.data[o + ch] = Math.round(Math.min(1, Math.max(0, v)) * 255);
      }
      px.data[o + 3] = 255;
    }
    ctx.putImageData(px, 0, 0);
    canvas.dataset.draws = String(Number(canvas.dataset.draws || 0) + 1);
  }

  function mb(bytes) { return (bytes / 1e6).toFixed(1) + " MB"; }

  // ------------------------------------------------------------------------------------------ panels

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }

  function radios(group, label, options, checked) {
    var box = el("div", { role: "radiogroup", "aria-label": label, "class": "fml-live-choice" }, [label + ": "]);
    options.forEach(function (o) {
      var input = el("input", { type: "radio", name: group, value: String(o[0]) });
      if (String(o[0]) === String(checked)) input.checked = true;
      box.appendChild(el("label", {}, [input, " " + o[1]]));
    });
    return box;
  }

  var counter = 0;

  function Panel(root) {
    this.root = root;
    this.models = JSON.parse(root.dataset.models || "[]");
    this.mode = root.dataset.mode || "latent";
    this.n = Number(root.dataset.n || 8);
    this.ends = JSON.parse(root.dataset.ends || "{}");
    this.queue = null; this.busy = false; this.codes = {};
    var id = "fml-live-" + (counter++), body = root.querySelector(".fml-live-body");
    this.status = el("div", { "class": "fml-live-status", "data-state": "idle", role: "status" }, ["Opening loads the runtime and the model."]);
    if (this.models.length > 1) body.appendChild(radios(id + "-model", "model", this.models.map(function (m) { return [m.name, m.title]; }), this.models[0].name));
    if (this.mode === "conditional") {
      var digits = []; for (var d = 0; d < 10; d++) digits.push([d, String(d)]);
      body.appendChild(radios(id + "-digit", "digit", digits, root.dataset.digit || 0));
    }
    this.sampleButton = el("button", { type: "button", "class": "fml-live-sample" }, ["New samples"]);
    this.samples = el("canvas", { "class": "fml-live-samples", "aria-label": "samples drawn in your browser" });
    body.appendChild(el("div", { "class": "fml-live-row" }, [this.sampleButton, " new noise on every click"]));
    body.appendChild(this.samples);
    if (this.mode === "latent") {
      this.endsButton = el("button", { type: "button", "class": "fml-live-ends" }, ["New end points"]);
      this.mix = el("input", { type: "range", min: "0", max: "100", step: "1", value: "50", "aria-label": "mix", "class": "fml-live-mix" });
      this.mixOut = el("output", {}, ["0.50"]);
      body.appendChild(el("div", { "class": "fml-live-row" }, [
        radios(id + "-path", "path", [["linear", "straight (lerp)"], ["slerp", "spherical (slerp)"]], "linear"),
      ]));
      body.appendChild(el("div", { "class": "fml-live-row" }, [this.endsButton, " ", el("label", {}, ["mix ", this.mix]), " ", this.mixOut]));
      this.path = el("canvas", { "class": "fml-live-path", "aria-label": "start code, the mix, end code" });
      body.appendChild(el("div", { "class": "fml-live-caption" }, ["start code \u00b7 the mix \u00b7 end code"]));
      body.appendChild(this.path);
    }
    body.appendChild(this.status);
    var self = this;
    root.addEventListener("toggle", function () { if (root.open) self.open(); });
    this.sampleButton.addEventListener("click", function (e) { self.request(e.timeStamp, "samples"); });
    body.addEventListener("change", function (e) {
      if (e.target.type !== "radio") return;
      if (e.target.name === id + "-model") self.request(e.timeStamp, "all");
      else if (e.target.name === id + "-digit") self.request(e.timeStamp, "samples");
      else self.request(e.timeStamp, "path");
    });
    if (this.mode === "latent") {
      this.endsButton.addEventListener("click", function (e) { delete self.ends[self.model()]; self.codes[self.model()] = null; self.request(e.timeStamp, "path"); });
      this.mix.addEventListener("input", function (e) { self.mixOut.textContent = (self.mix.value / 100).toFixed(2); self.request(e.timeStamp, "path"); });
    }
    this.describe();
  }

  Panel.prototype.choice = function (label) {
    var c = this.root.querySelector("[aria-label='" + label + "'] input:checked");
    return c ? c.value : null;
  };
  Panel.prototype.model = function () { return this.choice("model") || this.models[0].name; };

  Panel.prototype.describe = function () {
    var self = this, size = this.root.querySelector(".fml-live-size");
    manifest().then(function (m) {
      var first = m.models[self.models[0].name], rest = self.models.slice(1).map(function (x) { return m.models[x.name]; });
      size.textContent = " (opening it downloads ONNX Runtime Web, " + mb(m.runtime.bytes) + ", and the " + first.title + ", " + mb(first.bytes) + ")"
        + (rest.length ? "; " + rest.map(function (e) { return "the " + e.title + " (" + mb(e.bytes) + ")"; }).join(", ") + " loads when picked" : "");
    }).catch(function () { size.textContent = ""; });
  };

  Panel.prototype.setStatus = function (state, text) { this.status.dataset.state = state; this.status.textContent = text; };

  Panel.prototype.open = function () {
    if (this.opened) return;
    this.opened = true;
    this.request(performance.now(), "all");
  };

  /** Queue a redraw; while one runs, only the latest request waits (a dragged slider does not pile up). */
  Panel.prototype.request = function (t0, what) {
    if (!this.opened) return;
    var q = this.queue;
    this.queue = { t0: q ? Math.min(q.t0, t0) : t0, what: q && q.what !== what ? "all" : what };
    if (!this.busy) this.pump();
  };

  Panel.prototype.pump = function () {
    var self = this, job = this.queue;
    if (!job) { this.busy = false; return; }
    this.queue = null; this.busy = true;
    var name = this.model();
    if (!sessions[name]) this.setStatus("loading", "Loading the runtime and the model ...");
    session(name).then(function (model) {
      var steps = [];
      if (job.what !== "path") steps.push(self.drawSamples(model));
      if (job.what !== "samples" && self.path) steps.push(self.drawPath(model, name));
      return Promise.all(steps);
    }).then(function () {
      var ms = performance.now() - job.t0;
      self.root.dataset.lastMs = ms.toFixed(1);
      self.setStatus("ready", "Computed in your browser in " + Math.round(ms) + " ms.");
      self.pump();
    }).catch(function (err) {
      self.busy = false; self.queue = null;
      self.setStatus("error", "The live panel could not run (" + err.message + "); the pre-rendered pictures on this page still work.");
    });
  };

  Panel.prototype.drawSamples = function (model) {
    var n = this.n, d = model.entry.inputs.z, labels = null;
    if (model.entry.inputs.label) {
      var k = model.entry.inputs.label, digit = Number(this.choice("digit") || 0);
      labels = new Float32Array(n * k);
      for (var i = 0; i < n; i++) labels[i * k + digit] = 1;
    }
    var samples = this.samples;
    return decode(model, gaussian(n * d), n, labels).then(function (img) { draw(samples, img); });
  };

  Panel.prototype.drawPath = function (model, name) {
    var d = model.entry.inputs.z;
    if (!this.codes[name]) {
      var given = this.ends[name];
      this.codes[name] = given ? [Float32Array.from(given[0]), Float32Array.from(given[1])] : [gaussian(d), gaussian(d)];
    }
    var a = this.codes[name][0], b = this.codes[name][1], mid = interpolate(a, b, this.mix.value / 100, this.choice("path") || "linear");
    var codes = new Float32Array(3 * d);
    codes.set(a, 0); codes.set(mid, d); codes.set(b, 2 * d);
    var path = this.path;
    return decode(model, codes, 3, null).then(function (img) { draw(path, img); });
  };

  function init() {
    document.querySelectorAll("details.fml-live").forEach(function (root) {
      if (root.fmlPanel) return;
      root.hidden = false; root.style.display = "";
      try { root.fmlPanel = new Panel(root); } catch (err) { root.hidden = true; }
    });
  }

  window.fmlLive = { lerp: lerp, slerp: slerp, interpolate: interpolate, init: init };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
