/* FundamentalML live panels: the shipped decoders and generators, run in the page by ONNX Runtime Web.
 *
 * A chapter's widget output carries a hidden <details class="fml-live"> (see fundamentalml/widgets.py,
 * live_panel_html). This script, added to every page by book/_ext/fml_live.py, shows those panels and builds
 * their controls; nothing heavy loads until a reader opens one. Opening it loads the runtime (served from the
 * site, book/_vendor/onnxruntime-web) and the chosen model (_static/fml-live/<name>.onnx, exported at build
 * time); another model loads when it is picked. Without scripts, or when the runtime fails, the panel stays
 * hidden or says so, and the pre-rendered stand-in beside it is what the reader uses.
 *
 * The draw-a-digit panels (data-mode "draw" and "draw-conditional") run the VAEs' encoders too: the reader's
 * strokes, preprocessed as MNIST was (the twin of fundamentalml/drawing.py), are encoded to the posterior mean
 * mu and decoded again (MLP and CNN side by side, with the ELBO's two terms; the 2-D warm-up's code plane), or,
 * for the cVAE, decoded with each of the ten labels.
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
        var entry = got[1].models[name];
        if (!entry) throw new Error("no exported model " + name);
        return fileSession(entry);  // one download and session per file, shared with the draw panels
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


  // ------------------------------------------------------------------------------------------ draw a digit
  //
  // The twin of fundamentalml/drawing.py, step for step (tests compare the two on the same strokes):
  // strokes -> a 280x280 mask (a pixel is 1 when its centre is within PEN/2 of a segment: round caps and
  // joins, no anti-aliasing) -> the bounding box scaled to 20 pixels on its longer side by area resampling ->
  // placed in the 28x28 field with its centre of mass at the field's centre, to the nearest pixel.

  var PAD = 280, PEN = 24, FIELD = 28, BOX = 20;

  /** Set to 1 the pixels of the pad (Float64Array PAD*PAD) whose centres lie within pen/2 of segment a-b. */
  function segment(pad, ax, ay, bx, by, pen) {
    var r = (pen === undefined ? PEN : pen) / 2, size = Math.round(Math.sqrt(pad.length));
    var x0 = Math.max(0, Math.floor(Math.min(ax, bx) - r)), x1 = Math.min(size, Math.ceil(Math.max(ax, bx) + r) + 1);
    var y0 = Math.max(0, Math.floor(Math.min(ay, by) - r)), y1 = Math.min(size, Math.ceil(Math.max(ay, by) + r) + 1);
    var dx = bx - ax, dy = by - ay, length2 = dx * dx + dy * dy;
    for (var y = y0; y < y1; y++) for (var x = x0; x < x1; x++) {
      var px = x + 0.5, py = y + 0.5, t = 0;
      if (length2 > 0) t = Math.min(1, Math.max(0, ((px - ax) * dx + (py - ay) * dy) / length2));
      var qx = px - (ax + t * dx), qy = py - (ay + t * dy);
      if (qx * qx + qy * qy <= r * r) pad[y * size + x] = 1;
    }
  }

  /** The pad's mask for strokes ([[[x, y], ...], ...] in pad pixels): drawing.py's rasterise. */
  function rasterise(strokes, size, pen) {
    size = size || PAD;
    var pad = new Float64Array(size * size);
    strokes.forEach(function (s, k) {
      if (!s.length) throw new Error("stroke " + k + " has no points");
      if (s.length === 1) segment(pad, s[0][0], s[0][1], s[0][0], s[0][1], pen);
      for (var i = 1; i < s.length; i++) segment(pad, s[i - 1][0], s[i - 1][1], s[i][0], s[i][1], pen);
    });
    return pad;
  }

  /** A 28x28 digit (uint8 0..255) as the pad holds it: each pixel a 10x10 block (drawing.py's from_digit). */
  function fromDigit(digit) {
    var k = PAD / FIELD, pad = new Float64Array(PAD * PAD);
    for (var y = 0; y < PAD; y++) for (var x = 0; x < PAD; x++) pad[y * PAD + x] = digit[Math.floor(y / k) * FIELD + Math.floor(x / k)] / 255;
    return pad;
  }

  function areaWeights(nIn, factor) {
    var nOut = Math.max(1, Math.ceil(nIn * factor - 1e-9)), w = [];
    for (var i = 0; i < nOut; i++) {
      var row = new Float64Array(nIn), lo = i / factor, hi = (i + 1) / factor;
      for (var j = Math.max(0, Math.floor(lo)); j < Math.min(nIn, Math.ceil(hi)); j++) {
        var overlap = Math.min(hi, j + 1) - Math.max(lo, j);
        if (overlap > 0) row[j] = overlap * factor;
      }
      w.push(row);
    }
    return w;
  }

  /** MNIST's normalisation of the pad (Float64Array PAD*PAD in [0, 1]): a Float32Array of 28*28 in [0, 1],
   *  or null when nothing is drawn (drawing.py's preprocess). */
  function preprocess(pad) {
    var size = Math.round(Math.sqrt(pad.length)), r0 = -1, r1 = -1, c0 = size, c1 = -1;
    for (var y = 0; y < size; y++) for (var x = 0; x < size; x++) if (pad[y * size + x] !== 0) {
      if (r0 < 0) r0 = y;
      r1 = y; if (x < c0) c0 = x; if (x > c1) c1 = x;
    }
    if (r0 < 0) return null;
    var h = r1 - r0 + 1, w = c1 - c0 + 1, factor = BOX / Math.max(h, w);
    var wy = areaWeights(h, factor), wx = areaWeights(w, factor), oh = wy.length, ow = wx.length;
    var tmp = [], box = [], i, j, a, b;
    for (i = 0; i < oh; i++) {  // tmp = wy @ crop
      var t = new Float64Array(w);
      for (a = 0; a < h; a++) { var wa = wy[i][a]; if (wa === 0) continue; for (b = 0; b < w; b++) t[b] += wa * pad[(r0 + a) * size + c0 + b]; }
      tmp.push(t);
    }
    for (i = 0; i < oh; i++) {  // box = tmp @ wx.T
      var row = new Float64Array(ow);
      for (j = 0; j < ow; j++) { var s = 0; for (b = 0; b < w; b++) s += tmp[i][b] * wx[j][b]; row[j] = s; }
      box.push(row);
    }
    var mass = 0, my = 0, mx = 0;
    for (i = 0; i < oh; i++) for (j = 0; j < ow; j++) { mass += box[i][j]; my += box[i][j] * (i + 0.5); mx += box[i][j] * (j + 0.5); }
    var oy = Math.floor(FIELD / 2 - my / mass + 0.5), ox = Math.floor(FIELD / 2 - mx / mass + 0.5);
    var field = new Float32Array(FIELD * FIELD);
    for (i = 0; i < oh; i++) for (j = 0; j < ow; j++) {
      var fy = i + oy, fx = j + ox;
      if (fy >= 0 && fy < FIELD && fx >= 0 && fx < FIELD) field[fy * FIELD + fx] = Math.min(1, Math.max(0, box[i][j]));
    }
    return field;
  }

  /** The ELBO's two terms for one image, in nats: [reconstruction BCE (logs clamped at -100, as torch), KL]. */
  function elboTerms(x, recon, mu, logvar) {
    var bce = 0, kl = 0, i;
    for (i = 0; i < x.length; i++) {
      var p = recon[i];
      bce -= x[i] * Math.max(Math.log(p), -100) + (1 - x[i]) * Math.max(Math.log(1 - p), -100);
    }
    for (i = 0; i < mu.length; i++) kl += 1 + logvar[i] - mu[i] * mu[i] - Math.exp(logvar[i]);
    return [bce, -0.5 * kl];
  }

  /** A session for one exported file (a decoder, an encoder): cached by file name. */
  function fileSession(entry) {
    var key = "file:" + entry.file;
    if (!sessions[key]) {
      sessions[key] = runtime().then(function (ort) {
        return fetch(new URL(entry.file, MODELS)).then(function (r) {
          if (!r.ok) throw new Error(entry.file + ": HTTP " + r.status);
          return r.arrayBuffer();
        }).then(function (buf) {
          return ort.InferenceSession.create(buf, { executionProviders: ["wasm"] });
        }).then(function (s) { return { session: s, entry: entry, ort: ort }; });
      });
      sessions[key].catch(function () { delete sessions[key]; });
    }
    return sessions[key];
  }

  function fetchBytes(entry) {
    var key = "bytes:" + entry.file;
    if (!sessions[key]) {
      sessions[key] = fetch(new URL(entry.file, MODELS)).then(function (r) {
        if (!r.ok) throw new Error(entry.file + ": HTTP " + r.status);
        return r.arrayBuffer();
      });
      sessions[key].catch(function () { delete sessions[key]; });
    }
    return sessions[key];
  }

  /** Encode one image (Float32Array 784) [with a one-hot label]: {mu, logvar} as Float32Arrays. */
  function encode(model, image, label) {
    var ort = model.ort, feeds = { image: new ort.Tensor("float32", image, [1, 1, FIELD, FIELD]) };
    if (model.entry.inputs.label) {
      var onehot = new Float32Array(model.entry.inputs.label); onehot[label] = 1;
      feeds.label = new ort.Tensor("float32", onehot, [1, model.entry.inputs.label]);
    }
    return model.session.run(feeds).then(function (out) { return { mu: out.mu.data, logvar: out.logvar.data }; });
  }

  // Ten colours for the digits on the code plane (data colours, drawn on the plot's own dark backdrop).
  var DIGIT_COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

  function DrawPanel(root) {
    this.root = root;
    this.conditional = root.dataset.mode === "draw-conditional";
    this.models = JSON.parse(root.dataset.models || "[]");
    this.warm = root.dataset.warmup === "1";
    this.strokes = []; this.pad = new Float64Array(PAD * PAD); this.busy = false; this.queued = false; this.last = null;
    var id = "fml-live-" + (counter++), body = root.querySelector(".fml-live-body"), self = this;
    this.status = el("div", { "class": "fml-live-status", "data-state": "idle", role: "status" }, ["Opening loads the runtime and the models."]);
    this.padCanvas = el("canvas", { "class": "fml-draw-pad", width: String(PAD), height: String(PAD), tabindex: "-1",
      "aria-label": "drawing pad: draw a digit with the mouse, a finger or a pen (or load a test digit with the buttons below)" });
    this.preview = el("canvas", { "class": "fml-draw-preview", "aria-label": "your drawing after MNIST's preprocessing, 28 by 28" });
    this.clearButton = el("button", { type: "button", "class": "fml-draw-clear" }, ["Clear"]);
    var loads = el("div", { "class": "fml-live-row fml-draw-digits", role: "group", "aria-label": "load a test digit" }, ["Load a test digit: "]);
    for (var d = 0; d < 10; d++) loads.appendChild(el("button", { type: "button", "class": "fml-draw-digit", "data-digit": String(d), "aria-label": "load a test " + d }, [String(d)]));
    body.appendChild(el("div", { "class": "fml-draw-row" }, [
      el("figure", {}, [this.padCanvas, el("figcaption", { "class": "fml-live-caption" }, ["draw here"])]),
      el("figure", {}, [this.preview, el("figcaption", { "class": "fml-live-caption" }, ["28\u00d728, as MNIST (box to 20\u00d720, centre of mass to the middle)"])]),
    ]));
    body.appendChild(el("div", { "class": "fml-live-row" }, [this.clearButton, " "]));
    body.appendChild(loads);
    if (this.conditional) {
      var digits = []; for (var k = 0; k < 10; k++) digits.push([k, String(k)]);
      body.appendChild(radios(id + "-label", "the digit you drew", digits, 0));
      this.outputs = el("canvas", { "class": "fml-draw-ten", "aria-label": "your drawing's code decoded with each label, 0 to 9" });
      body.appendChild(el("div", { "class": "fml-live-caption" }, ["the same code \u03bc, decoded as 0, 1, 2, ... 9"]));
      body.appendChild(this.outputs);
    } else {
      this.recons = {};
      var row = el("div", { "class": "fml-draw-row" }, []);
      this.models.forEach(function (m) {
        var c = el("canvas", { "class": "fml-draw-recon", "data-model": m.name, "aria-label": m.title + " reconstruction" });
        var terms = el("div", { "class": "fml-draw-terms", "data-model": m.name }, [""]);
        self.recons[m.name] = { canvas: c, terms: terms };
        row.appendChild(el("figure", {}, [c, el("figcaption", { "class": "fml-live-caption" }, [m.title + ": decoded from \u03bc"]), terms]));
      });
      if (this.warm) {
        this.plane = el("canvas", { "class": "fml-draw-plane", width: "300", height: "300",
          "aria-label": "the warm-up model's 2-D code plane: test digits coloured by label, and your drawing" });
        this.planeNote = el("div", { "class": "fml-draw-terms" }, [""]);
        row.appendChild(el("figure", {}, [this.plane, el("figcaption", { "class": "fml-live-caption" }, ["2-D warm-up: test digits' \u03bc by label; \u2715 your drawing"]), this.planeNote]));
      }
      body.appendChild(row);
    }
    body.appendChild(this.status);
    root.addEventListener("toggle", function () { if (root.open) self.open(); });
    this.clearButton.addEventListener("click", function () { self.clear(); });
    loads.addEventListener("click", function (e) {
      var b = e.target.closest("button[data-digit]");
      if (b) self.loadDigit(Number(b.dataset.digit));
    });
    body.addEventListener("change", function (e) { if (e.target.name === id + "-label") self.request(); });
    this.bindPointer();
    this.describe();
  }

  DrawPanel.prototype.setStatus = Panel.prototype.setStatus;
  DrawPanel.prototype.choice = Panel.prototype.choice;

  DrawPanel.prototype.files = function (m) {
    var out = [];
    this.models.forEach(function (x) { var e = m.models[x.name]; if (e) { out.push(e); if (e.encoder) out.push(e.encoder); } });
    if (this.warm && m.warmup) out.push(m.warmup.encoder, m.warmup.codes);
    if (m.digits) out.push(m.digits);
    return out;
  };

  DrawPanel.prototype.describe = function () {
    var self = this, size = this.root.querySelector(".fml-live-size");
    manifest().then(function (m) {
      var files = self.files(m), bytes = files.reduce(function (s, e) { return s + e.bytes; }, 0);
      self.root.dataset.openBytes = String(bytes + m.runtime.bytes);
      size.textContent = " (opening it downloads ONNX Runtime Web, " + mb(m.runtime.bytes) + ", and the encoders, decoders and data, " + mb(bytes) + ")";
    }).catch(function () { size.textContent = ""; });
  };

  DrawPanel.prototype.open = function () {
    if (this.opened) return;
    this.opened = true;
    var self = this;
    this.setStatus("loading", "Loading the runtime and the models ...");
    this.ready = manifest().then(function (m) {
      var enc = {}, dec = {}, jobs = [];
      self.models.forEach(function (x) {
        var e = m.models[x.name];
        if (!e || !e.encoder) throw new Error("no exported encoder for " + x.name);
        jobs.push(fileSession(e.encoder).then(function (s) { enc[x.name] = s; }));
        jobs.push(fileSession(e).then(function (s) { dec[x.name] = s; }));
      });
      if (self.warm) {
        if (!m.warmup) throw new Error("this build has no warm-up model");
        jobs.push(fileSession(m.warmup.encoder).then(function (s) { self.warmEncoder = s; }));
        jobs.push(fetchBytes(m.warmup.codes).then(function (buf) {
          var n = m.warmup.codes.n;
          self.warmCodes = new Float32Array(buf, 0, 2 * n); self.warmLabels = new Uint8Array(buf, 8 * n, n);
        }));
      }
      jobs.push(fetchBytes(m.digits).then(function (buf) { self.digits = new Uint8Array(buf); }));
      return Promise.all(jobs).then(function () { self.encoders = enc; self.decoders = dec; });
    });
    this.ready.then(function () {
      self.drawPad(); self.drawPlane(null);
      self.setStatus("ready", "Ready: draw a digit in the box (or load a test digit).");
    }).catch(function (err) {
      self.setStatus("error", "The live panel could not run (" + err.message + "); the pre-rendered pictures on this page still work.");
    });
  };

  DrawPanel.prototype.bindPointer = function () {
    var self = this, c = this.padCanvas, stroke = null;
    function point(e) {
      var r = c.getBoundingClientRect();
      return [(e.clientX - r.left) * PAD / r.width, (e.clientY - r.top) * PAD / r.height];
    }
    c.addEventListener("pointerdown", function (e) {
      if (!self.opened || (e.pointerType === "mouse" && e.button !== 0)) return;
      e.preventDefault();
      if (c.setPointerCapture) try { c.setPointerCapture(e.pointerId); } catch (err) { /* synthetic events have no capture */ }
      stroke = [point(e)]; self.strokes.push(stroke);
      var p = stroke[0]; segment(self.pad, p[0], p[1], p[0], p[1]); self.drawPad();
    });
    c.addEventListener("pointermove", function (e) {
      if (!stroke) return;
      e.preventDefault();
      var p = point(e), q = stroke[stroke.length - 1];
      stroke.push(p); segment(self.pad, q[0], q[1], p[0], p[1]); self.drawPad();
    });
    function end() { if (stroke) { stroke = null; self.request(); } }
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
  };

  DrawPanel.prototype.drawPad = function () {
    var ctx = this.padCanvas.getContext("2d"), img = ctx.createImageData(PAD, PAD);
    for (var i = 0; i < PAD * PAD; i++) { var v = Math.round(this.pad[i] * 255); img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v; img.data[4 * i + 3] = 255; }
    ctx.putImageData(img, 0, 0);
  };

  DrawPanel.prototype.clear = function () {
    this.strokes = []; this.pad = new Float64Array(PAD * PAD); this.last = null;
    this.drawPad();
    [this.preview, this.outputs].concat(Object.keys(this.recons || {}).map(function (k) { return this.recons[k].canvas; }, this)).forEach(function (c) {
      if (c) { c.width = c.width; c.dataset.draws = String(Number(c.dataset.draws || 0) + 1); }
    });
    Object.keys(this.recons || {}).forEach(function (k) { this.recons[k].terms.textContent = ""; }, this);
    this.drawPlane(null);
    if (this.opened) this.setStatus("ready", "Cleared: draw a digit in the box (or load a test digit).");
  };

  DrawPanel.prototype.loadDigit = function (d) {
    if (!this.opened) return;
    var self = this;
    this.ready.then(function () {
      self.strokes = []; self.pad = fromDigit(self.digits.subarray(d * 784, (d + 1) * 784));
      if (self.conditional) { var r = self.root.querySelector("[aria-label='the digit you drew'] input[value='" + d + "']"); if (r) r.checked = true; }
      self.drawPad(); self.request();
    });
  };

  /** Run the models on the pad's image; while one run is on, only the latest request waits. */
  DrawPanel.prototype.request = function () {
    if (!this.opened) return;
    if (this.busy) { this.queued = true; return; }
    var self = this, t0 = performance.now();
    this.busy = true;
    this.ready.then(function () { return self.compute(); }).then(function (done) {
      if (done) self.setStatus("ready", "Computed in your browser in " + Math.round(performance.now() - t0) + " ms.");
    }).catch(function (err) {
      self.setStatus("error", "The live panel could not run (" + err.message + "); the pre-rendered pictures on this page still work.");
    }).then(function () {
      self.busy = false;
      self.root.dataset.runs = String(Number(self.root.dataset.runs || 0) + 1);  // finished runs (tests wait on it)
      if (self.queued) { self.queued = false; self.request(); }
    });
  };

  DrawPanel.prototype.compute = function () {
    var self = this, x = preprocess(this.pad);
    if (!x) { this.setStatus("ready", "Nothing drawn yet: draw a digit in the box (or load a test digit)."); return Promise.resolve(false); }
    draw(this.preview, { data: x, dims: [1, 1, FIELD, FIELD] });
    var result = { image: Array.from(x) };
    if (this.conditional) {
      var name = this.models[0].name, label = Number(this.choice("the digit you drew") || 0);
      return encode(this.encoders[name], x, label).then(function (q) {
        var dec = self.decoders[name], d = dec.entry.inputs.z, k = dec.entry.inputs.label;
        var codes = new Float32Array(10 * d), labels = new Float32Array(10 * k);
        for (var i = 0; i < 10; i++) { codes.set(q.mu, i * d); labels[i * k + i] = 1; }
        result.label = label; result.mu = Array.from(q.mu); result.logvar = Array.from(q.logvar);
        return decode(dec, codes, 10, labels).then(function (img) {
          draw(self.outputs, img); result.outputs = Array.from(img.data); self.last = result; return true;
        });
      });
    }
    result.models = {};
    var jobs = this.models.map(function (m) {
      return encode(self.encoders[m.name], x).then(function (q) {
        return decode(self.decoders[m.name], q.mu, 1, null).then(function (img) {
          var terms = elboTerms(x, img.data, q.mu, q.logvar), box = self.recons[m.name];
          draw(box.canvas, img);
          box.terms.textContent = "reconstruction (BCE) " + terms[0].toFixed(1) + " nats \u00b7 KL " + terms[1].toFixed(1) + " nats \u00b7 \u2212ELBO " + (terms[0] + terms[1]).toFixed(1) + " nats";
          result.models[m.name] = { mu: Array.from(q.mu), logvar: Array.from(q.logvar), recon: Array.from(img.data), bce: terms[0], kl: terms[1] };
        });
      });
    });
    if (this.warm) jobs.push(encode(this.warmEncoder, x).then(function (q) { result.warmup = Array.from(q.mu); self.drawPlane(q.mu); }));
    return Promise.all(jobs).then(function () { self.last = result; return true; });
  };

  DrawPanel.prototype.drawPlane = function (point) {
    if (!this.plane || !this.warmCodes) return;
    var c = this.plane, ctx = c.getContext("2d"), w = c.width, h = c.height, codes = this.warmCodes, labels = this.warmLabels;
    var extent = 4;
    if (point) extent = Math.max(extent, Math.abs(point[0]) * 1.1, Math.abs(point[1]) * 1.1);
    function px(v) { return (v + extent) / (2 * extent) * w; }
    function py(v) { return h - (v + extent) / (2 * extent) * h; }
    ctx.fillStyle = "#111"; ctx.fillRect(0, 0, w, h);
    ctx.strokeStyle = "#555"; ctx.beginPath(); ctx.moveTo(px(0), 0); ctx.lineTo(px(0), h); ctx.moveTo(0, py(0)); ctx.lineTo(w, py(0)); ctx.stroke();
    ctx.globalAlpha = 0.5;
    for (var i = 0; i < labels.length; i++) { ctx.fillStyle = DIGIT_COLOURS[labels[i]]; ctx.fillRect(px(codes[2 * i]) - 1, py(codes[2 * i + 1]) - 1, 2, 2); }
    ctx.globalAlpha = 1;
    ctx.font = "12px sans-serif";
    for (var d = 0; d < 10; d++) { ctx.fillStyle = DIGIT_COLOURS[d]; ctx.fillText(String(d), 6 + d * 14, 14); }
    ctx.fillStyle = "#ddd"; ctx.fillText("\u00b1" + extent.toFixed(1), w - 40, h - 6);
    if (point) {
      var x = px(point[0]), y = py(point[1]);
      ctx.lineWidth = 5; ctx.strokeStyle = "#000"; ctx.beginPath(); ctx.moveTo(x - 8, y - 8); ctx.lineTo(x + 8, y + 8); ctx.moveTo(x + 8, y - 8); ctx.lineTo(x - 8, y + 8); ctx.stroke();
      ctx.lineWidth = 2.5; ctx.strokeStyle = "#fff"; ctx.stroke(); ctx.lineWidth = 1;
      this.planeNote.textContent = "your drawing's \u03bc: (" + point[0].toFixed(2) + ", " + point[1].toFixed(2) + ")";
    } else if (this.planeNote) this.planeNote.textContent = "";
    c.dataset.draws = String(Number(c.dataset.draws || 0) + 1);
  };

  function init() {
    document.querySelectorAll("details.fml-live").forEach(function (root) {
      if (root.fmlPanel) return;
      root.hidden = false; root.style.display = "";
      try { root.fmlPanel = /^draw/.test(root.dataset.mode || "") ? new DrawPanel(root) : new Panel(root); } catch (err) { root.hidden = true; }
    });
  }

  window.fmlLive = { lerp: lerp, slerp: slerp, interpolate: interpolate, init: init,
                    rasterise: rasterise, fromDigit: fromDigit, preprocess: preprocess, elboTerms: elboTerms };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
