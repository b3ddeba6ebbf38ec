// `apisec check` output: a readable table, JSON, SARIF 2.1.0 and JUnit XML, all from one CheckResult and
// verdict. Deterministic (no timestamps, stable order) so the outputs can be compared as goldens.
import type { ControlResult } from '../api/v1alpha1.ts';
import { counts, judge, outcomeOf, targetProblems, type CheckResult, type Outcome, type PolicyReport, type Thresholds, type Verdict } from './check.ts';
import { at } from './inventory.ts';
import { allRules, inputRules, type Rule } from './rules.ts';
import { inertDeep } from '../render/text.ts';
import { columns, paint, plural, type Cell, type Paint } from './text.ts';

export type CheckFormat = 'table' | 'json' | 'sarif' | 'junit';
export const CHECK_FORMATS: readonly CheckFormat[] = ['table', 'json', 'sarif', 'junit'];

export interface FormatOptions {
  thresholds: Thresholds;
  version: string;
  color?: boolean;
}

const id = (p: { namespace: string; name: string }): string => `${p.namespace}/${p.name}`;

export function formatCheck(r: CheckResult, format: CheckFormat, opts: FormatOptions): string {
  const verdict = judge(r, opts.thresholds);
  switch (format) {
    case 'table':
      // Policies, Ingresses and messages are anyone's text: no escape sequence reaches the terminal.
      return table(inertDeep(r), inertDeep(verdict), opts.thresholds, paint(opts.color ?? false));
    case 'json':
      return `${JSON.stringify(json(r, verdict, opts), null, 2)}\n`;
    case 'sarif':
      return `${JSON.stringify(sarif(r, opts), null, 2)}\n`;
    case 'junit':
      return junit(inertDeep(r), opts.thresholds);
  }
}

// ---- table ----

const RESULT_LABEL: Record<ControlResult['result'], string> = { Pass: 'PASS', Warn: 'WARN', Fail: 'FAIL', NotApplicable: 'N/A' };

function outcomeCell(o: Outcome, p: Paint): Cell {
  return { text: o, style: o === 'fail' ? p.red : o === 'warn' ? p.yellow : p.green };
}

function table(r: CheckResult, verdict: Verdict, t: Thresholds, p: Paint): string {
  const out: string[] = [];
  if (r.policies.length) {
    const rows: Cell[][] = [['POLICY', 'MODE', 'SCORE', 'RESULT', 'FAILING', 'WARNINGS', 'SOURCE'].map((h) => ({ text: h, style: p.bold }))];
    for (const pol of r.policies) {
      const names = (res: ControlResult['result']): string => pol.controls.filter((c) => c.result === res).map((c) => c.control).join(', ') || '-';
      rows.push([id(pol), pol.mode, pol.auditScore !== undefined ? `${pol.score} (audit ${pol.auditScore})` : String(pol.score), outcomeCell(outcomeOf(pol, t), p), names('Fail'), names('Warn'), at(pol.at)]);
    }
    out.push(columns(rows));
  }
  const findings = findingRows(r, p);
  if (findings.length) out.push(`${p.bold('Findings')}\n${findings.join('\n')}`);
  if (r.errors.length) {
    out.push(`${p.bold('Invalid policies')}\n${r.errors.map((e) => `  ${p.red('ERROR')}  ${id(e)}  ${at(e.at)}\n         ${e.message}`).join('\n')}`);
  }
  if (r.uncovered.length) {
    const rows: Cell[][] = r.uncovered.map((u) => [{ text: t.allowUncovered ? 'WARN' : 'FAIL', style: t.allowUncovered ? p.yellow : p.red }, `${u.kind} ${u.namespace}/${u.name}`, u.detail, u.at ? at(u.at) : '']);
    out.push(`${p.bold('Uncovered APIs')} (no ApiSecurityPolicy targets them)\n${columns(rows, '  ')}`);
  }
  out.push(summary(r, verdict, t, p));
  return `${out.join('\n\n')}\n`;
}

function findingRows(r: CheckResult, p: Paint): string[] {
  const rows: Cell[][] = [];
  const fixes: (string | undefined)[] = [];
  for (const pol of r.policies) {
    for (const c of pol.controls.filter((x) => x.result === 'Fail' || x.result === 'Warn')) {
      rows.push([{ text: RESULT_LABEL[c.result], style: c.result === 'Fail' ? p.red : p.yellow }, id(pol), c.control, c.message]);
      fixes.push(c.remediation);
    }
    for (const tp of targetProblems(pol)) {
      rows.push([{ text: 'WARN', style: p.yellow }, id(pol), `${tp.kind} ${tp.name}`, `${tp.state}: ${tp.message ?? ''}`.trim()]);
      fixes.push(undefined);
    }
  }
  if (!rows.length) return [];
  // Each remediation goes under its finding, indented to the policy column.
  const pad = ' '.repeat(2 + 'FAIL'.length + 2);
  return columns(rows, '  ')
    .split('\n')
    .flatMap((line, i) => (fixes[i] ? [line, `${pad}${p.dim(`fix: ${fixes[i]}`)}`] : [line]));
}

function summary(r: CheckResult, verdict: Verdict, t: Thresholds, p: Paint): string {
  const by = (o: Outcome): number => r.policies.filter((x) => outcomeOf(x, t) === o).length;
  const facts = [
    `${plural(r.policies.length + r.errors.length, 'policy', 'policies')} (${by('pass')} pass, ${by('warn')} warn, ${by('fail')} fail${r.errors.length ? `, ${r.errors.length} invalid` : ''})`,
    plural(r.uncovered.length, 'uncovered API'),
  ].join(', ');
  if (verdict.exitCode === 0) return `${p.green('PASSED')}: ${facts}.`;
  return `${p.red(verdict.exitCode === 2 ? 'ERROR' : 'FAILED')}: ${facts}.\n${verdict.reasons.map((x) => `  - ${x}`).join('\n')}`;
}

// ---- JSON ----

function json(r: CheckResult, verdict: Verdict, opts: FormatOptions): Record<string, unknown> {
  const t = opts.thresholds;
  const outcome = (o: Outcome): number => r.policies.filter((x) => outcomeOf(x, t) === o).length;
  return {
    tool: { name: 'apisec', version: opts.version },
    result: verdict.exitCode === 0 ? 'pass' : verdict.exitCode === 1 ? 'fail' : 'error',
    exitCode: verdict.exitCode,
    reasons: verdict.reasons,
    thresholds: t,
    summary: { policies: r.policies.length, pass: outcome('pass'), warn: outcome('warn'), fail: outcome('fail'), invalid: r.errors.length, uncovered: r.uncovered.length },
    policies: r.policies.map((pol) => ({
      namespace: pol.namespace,
      name: pol.name,
      file: pol.at.file,
      line: pol.at.line,
      mode: pol.mode,
      outcome: outcomeOf(pol, t),
      score: pol.score,
      ...(pol.auditScore !== undefined ? { auditScore: pol.auditScore } : {}),
      violations: pol.violations,
      targets: pol.targets,
      controls: pol.controls,
    })),
    invalid: r.errors.map((e) => ({ namespace: e.namespace, name: e.name, file: e.at.file, line: e.at.line, reason: e.reason, message: e.message })),
    uncovered: r.uncovered.map((u) => ({ kind: u.kind, namespace: u.namespace, name: u.name, detail: u.detail, ...(u.at ? { file: u.at.file, line: u.at.line } : {}) })),
  };
}

// ---- SARIF 2.1.0 ----

type Level = 'error' | 'warning' | 'note';

/** A relative path stays a relative URI reference (resolved against the repository root by scanners). */
function artifactUri(file: string): string {
  const slashed = file.replaceAll('\\', '/');
  if (/^[A-Za-z]:\//.test(slashed)) return `file:///${encodeURI(slashed)}`;
  return slashed.startsWith('/') ? `file://${encodeURI(slashed)}` : encodeURI(slashed);
}

function sarif(r: CheckResult, opts: FormatOptions): Record<string, unknown> {
  const t = opts.thresholds;
  const index = new Map(allRules.map((rule, i) => [rule.id, i]));
  const results: Record<string, unknown>[] = [];
  const add = (rule: Rule, level: Level, text: string, where: { loc: { file: string; line: number } | undefined; name: string }): void => {
    const { loc, name } = where;
    results.push({
      ruleId: rule.id,
      ruleIndex: index.get(rule.id),
      level,
      message: { text },
      locations: [
        {
          ...(loc ? { physicalLocation: { artifactLocation: { uri: artifactUri(loc.file) }, region: { startLine: loc.line } } } : {}),
          logicalLocations: [{ fullyQualifiedName: name, kind: 'resource' }],
        },
      ],
    });
  };
  for (const e of r.errors) add(inputRules.InvalidPolicy, 'error', `ApiSecurityPolicy ${id(e)} is invalid: ${e.message}`, { loc: e.at, name: id(e) });
  for (const pol of r.policies) {
    const name = `ApiSecurityPolicy ${id(pol)}`;
    for (const c of pol.controls) {
      if (c.result !== 'Fail' && c.result !== 'Warn') continue;
      const rule = allRules[index.get(c.control)!]!;
      add(rule, c.result === 'Fail' ? 'error' : 'warning', `${id(pol)}: ${c.message}${c.remediation ? `. Fix: ${c.remediation}` : ''}`, { loc: pol.at, name });
    }
    for (const tp of targetProblems(pol)) add(inputRules.TargetProblem, 'warning', `${id(pol)}: ${tp.kind} ${tp.name} is ${tp.state}: ${tp.message ?? ''}`.trim(), { loc: pol.at, name });
    if (pol.score < t.minScore) add(inputRules.MinScore, 'error', `${id(pol)} scores ${pol.score}, below the minimum of ${t.minScore}`, { loc: pol.at, name });
  }
  for (const u of r.uncovered) {
    add(inputRules.UncoveredAPI, t.allowUncovered ? 'warning' : 'error', `${u.kind} ${u.namespace}/${u.name} (${u.detail}) is not covered by any ApiSecurityPolicy`, { loc: u.at, name: `${u.kind} ${u.namespace}/${u.name}` });
  }
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'apisec',
            semanticVersion: opts.version,
            rules: allRules.map((rule) => ({
              id: rule.id,
              name: rule.id,
              shortDescription: { text: rule.title },
              fullDescription: { text: rule.description },
              defaultConfiguration: { level: 'error' satisfies Level },
              properties: { tags: ['security'], 'security-severity': rule.severity },
            })),
          },
        },
        results,
      },
    ],
  };
}

// ---- JUnit XML ----

const xml = (s: string): string =>
  // XML 1.0 cannot carry most control characters, not even escaped: drop them.
  // eslint-disable-next-line no-control-regex
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

interface Case {
  name: string;
  classname: string;
  /** failure: counts against the run; error: invalid input; skipped: not applicable; out: informational. */
  failure?: { type: string; message: string; detail?: string };
  error?: { type: string; message: string };
  skipped?: string;
  out?: string;
}

interface Suite {
  xml: string;
  tests: number;
  failures: number;
  errors: number;
}

function suite(name: string, file: string | undefined, cases: Case[]): Suite {
  const n = (k: keyof Case): number => cases.filter((c) => c[k] !== undefined).length;
  const body = cases.map((c) => {
    const attrs = `name="${xml(c.name)}" classname="${xml(c.classname)}"${file ? ` file="${xml(file)}"` : ''}`;
    const inner = [
      c.failure ? `      <failure type="${xml(c.failure.type)}" message="${xml(c.failure.message)}">${xml(c.failure.detail ?? c.failure.message)}</failure>` : '',
      c.error ? `      <error type="${xml(c.error.type)}" message="${xml(c.error.message)}">${xml(c.error.message)}</error>` : '',
      c.skipped !== undefined ? `      <skipped message="${xml(c.skipped)}"/>` : '',
      c.out ? `      <system-out>${xml(c.out)}</system-out>` : '',
    ].filter(Boolean);
    return inner.length ? `    <testcase ${attrs}>\n${inner.join('\n')}\n    </testcase>` : `    <testcase ${attrs}/>`;
  });
  return {
    xml: `  <testsuite name="${xml(name)}" tests="${cases.length}" failures="${n('failure')}" errors="${n('error')}" skipped="${n('skipped')}">\n${body.join('\n')}\n  </testsuite>`,
    tests: cases.length,
    failures: n('failure'),
    errors: n('error'),
  };
}

/** A testcase fails exactly when its finding fails the run under the thresholds; other findings go to system-out. */
function policyCases(pol: PolicyReport, t: Thresholds): Case[] {
  const classname = `${pol.namespace}.${pol.name}`;
  const cases: Case[] = pol.controls.map((c) => {
    const text = `${c.result}: ${c.message}${c.remediation ? `\nfix: ${c.remediation}` : ''}`;
    if (c.result === 'NotApplicable') return { name: c.control, classname, skipped: c.message };
    if (counts(c.result, t.failOn)) return { name: c.control, classname, failure: { type: c.result, message: c.message, detail: text } };
    return { name: c.control, classname, out: text };
  });
  for (const tp of pol.targets) {
    const problem = targetProblems(pol).includes(tp);
    const text = `${tp.state}${tp.message ? `: ${tp.message}` : ''}`;
    cases.push({ name: `target ${tp.kind}/${tp.name}`, classname, ...(problem && t.failOn === 'warn' ? { failure: { type: tp.state, message: text } } : { out: text }) });
  }
  if (t.minScore > 0) {
    const msg = `score ${pol.score}, minimum ${t.minScore}`;
    cases.push({ name: `score >= ${t.minScore}`, classname, ...(pol.score < t.minScore ? { failure: { type: 'MinScore', message: msg } } : { out: msg }) });
  }
  return cases;
}

function junit(r: CheckResult, t: Thresholds): string {
  const suites: Suite[] = [];
  for (const e of r.errors) {
    suites.push(suite(id(e), e.at.file, [{ name: 'spec', classname: `${e.namespace}.${e.name}`, error: { type: e.reason, message: e.message } }]));
  }
  for (const pol of r.policies) suites.push(suite(id(pol), pol.at.file, policyCases(pol, t)));
  if (r.uncovered.length) {
    suites.push(
      suite(
        'uncovered APIs',
        undefined,
        r.uncovered.map((u) => {
          const msg = `${u.kind} ${u.namespace}/${u.name} (${u.detail}) is not covered by any ApiSecurityPolicy${u.at ? ` (${at(u.at)})` : ''}`;
          return { name: `${u.kind} ${u.namespace}/${u.name}`, classname: 'uncovered', ...(t.allowUncovered ? { out: msg } : { failure: { type: 'UncoveredAPI', message: msg } }) };
        }),
      ),
    );
  }
  const total = (k: 'tests' | 'failures' | 'errors'): number => suites.reduce((sum, s) => sum + s[k], 0);
  const head = `<testsuites name="apisec check" tests="${total('tests')}" failures="${total('failures')}" errors="${total('errors')}">`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n${head}\n${suites.map((s) => `${s.xml}\n`).join('')}</testsuites>\n`;
}
