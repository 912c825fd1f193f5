// How the platform writes numbers, sizes, durations and times in the browser: the same rules as
// platform_web/core/formatting.py (tests/core/test_formatting.py runs both on the same values).
// Also: every <time data-local datetime="..."> is written in the user's locale, and `robustMax`,
// the one rule every chart with an open-ended axis uses to keep a diverged trial from flattening it.
(function () {
  "use strict";
  const MISSING = "\u2014";
  const SIZE_UNITS = ["B", "kB", "MB", "GB", "TB"];

  const finite = (v) => (v === null || v === undefined || v === "" || typeof v === "boolean" || !Number.isFinite(Number(v)) ? null : Number(v));
  const strip = (text) => (text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text);
  // toFixed rounds the exact binary value half away from zero, as the server's Decimal ROUND_HALF_UP does.
  const fixed = (x, decimals) => x.toFixed(decimals);

  function count(v) {
    const x = finite(v);
    if (x === null) return MISSING;
    const rounded = Math.sign(x) * Math.round(Math.abs(x)); // halves away from zero, as the server rounds
    return (rounded === 0 ? 0 : rounded).toLocaleString("en-US");
  }

  function number(v, significant) {
    const sig = significant || 3;
    const x = finite(v);
    if (x === null) return MISSING;
    if (x === 0) return "0";
    const magnitude = Math.abs(x);
    let exponent = Math.floor(Math.log10(magnitude));
    if (magnitude >= 1000 && magnitude < 1e6) return count(x);
    if (magnitude >= 1e-3 && magnitude < 1000) {
      const text = strip(fixed(x, Math.max(0, sig - 1 - exponent)));
      return text === "-0" || text === "" ? "0" : text;
    }
    let mantissa = x / Math.pow(10, exponent);
    let text = mantissa.toFixed(sig - 1);
    if (Math.abs(Number(text)) >= 10) {
      exponent += 1;
      mantissa = x / Math.pow(10, exponent);
      text = mantissa.toFixed(sig - 1);
    }
    return strip(text) + "e" + exponent;
  }

  function percent(v, decimals) {
    const x = finite(v);
    if (x === null) return MISSING;
    return fixed(x * 100, decimals === undefined ? 1 : decimals) + "%";
  }

  function size(v) {
    let x = finite(v);
    if (x === null) return MISSING;
    let unit = 0;
    while (Math.abs(x) >= 1000 && unit < SIZE_UNITS.length - 1) { x /= 1000; unit += 1; }
    return unit === 0 ? Math.trunc(x) + " B" : fixed(x, 1) + " " + SIZE_UNITS[unit];
  }

  function duration(v) {
    let x = finite(v);
    if (x === null) return MISSING;
    x = Math.max(0, x);
    if (x < 10) return fixed(x, 1) + " s";
    const s = Math.round(x);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + String(s % 60).padStart(2, "0") + " s";
    return Math.floor(s / 3600) + " h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + " min";
  }

  function milliseconds(v) {
    const text = number(v);
    return text === MISSING ? text : text + " ms";
  }

  const yesNo = (v) => (v === null || v === undefined ? MISSING : v ? "yes" : "no");

  function value(item) {
    if (item === null || item === undefined || typeof item === "boolean") return yesNo(item);
    if (Array.isArray(item)) return item.map(value).join(", ");
    if (typeof item === "number") return number(item); // for whole numbers the same text as count()
    return String(item);
  }

  const label = (name) => String(name).replace(/_/g, " ");

  // A time in the user's locale: the date too when it is not today.
  function clock(date) {
    const when = date instanceof Date ? date : new Date(date);
    if (Number.isNaN(when.getTime())) return MISSING;
    const options = { hour: "2-digit", minute: "2-digit" };
    if (when.toDateString() !== new Date().toDateString()) Object.assign(options, { day: "numeric", month: "short", year: "numeric" });
    return when.toLocaleString([], options);
  }

  // The top of an open-ended axis (loss): the largest value within 5x the median of all of them, so a
  // diverged or pruned trial whose loss ran to 1e28 is cut off at the top instead of flattening the rest.
  function robustMax(values) {
    const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
    if (!xs.length) return undefined;
    const median = xs[Math.floor((xs.length - 1) / 2)];
    const limit = median > 0 ? median * 5 : Infinity;
    const kept = xs.filter((v) => v <= limit);
    const top = kept.length ? kept[kept.length - 1] : xs[0];
    const padded = top * 1.05;
    if (!(padded > 0)) return { max: 1, clipped: xs.length - kept.length };
    const step = Math.pow(10, Math.floor(Math.log10(padded)) - 1); // round up to two significant digits
    return { max: Number((Math.ceil(padded / step) * step).toPrecision(12)), clipped: xs.length - kept.length };
  }

  function localTimes(root) {
    for (const el of (root || document).querySelectorAll("time[data-local][datetime]")) {
      el.textContent = clock(el.getAttribute("datetime"));
    }
  }

  const api = { MISSING, label, count, number, percent, size, duration, milliseconds, yesNo, value, clock, robustMax, localTimes };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  if (typeof window !== "undefined") {
    window.Fmt = api;
    document.addEventListener("DOMContentLoaded", () => localTimes());
  }
})();
