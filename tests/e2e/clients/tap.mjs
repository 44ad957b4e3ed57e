// Result lines for the client scripts.  A .t file runs a client and turns
// each "ok - DESC" / "not ok - DESC" line into one numbered TAP assertion
// of its own; "# ..." lines are diagnostics.  Scripts exit 0 when every
// check passed.

let failed = 0;
let prefix = '';

export function setPrefix(p) {
  prefix = p ? `${p}: ` : '';
}

export function ok(cond, desc, detail) {
  process.stdout.write(`${cond ? 'ok' : 'not ok'} - ${prefix}${desc}\n`);
  if (!cond) {
    failed++;
    if (detail !== undefined) diag(typeof detail === 'string' ? detail : JSON.stringify(detail));
  }
  return Boolean(cond);
}

export function is(got, want, desc) {
  return ok(got === want, desc, `got: ${JSON.stringify(got)}\nexpected: ${JSON.stringify(want)}`);
}

export function like(got, re, desc) {
  return ok(typeof got === 'string' && re.test(got), desc, `${JSON.stringify(got)} does not match ${re}`);
}

export function diag(text) {
  for (const line of String(text).split('\n')) process.stdout.write(`# ${line}\n`);
}

export function failures() {
  return failed;
}

// Stop the whole script after ms, whatever it is waiting for.
export function deadline(ms, what) {
  const t = setTimeout(() => {
    ok(false, `${what} finished within ${ms / 1000} s`);
    process.exit(1);
  }, ms);
  t.unref();
}
