// Branch coverage of the simulator over a fuzzing campaign, from V8's own block coverage
// (Profiler.startPreciseCoverage with detailed: true, through node:inspector in this process), so
// that `pnpm fuzz --kernel --coverage` says what the random scenarios reach.
//
// V8 reports, per function, the ranges whose execution count differs from the enclosing range's;
// the count at a position is the count of the innermost range holding it. The branches are those
// istanbul counts, found by parsing the code V8 ran (tsx's output) with the TypeScript parser:
// both arms of every if (a missing else counts as the times the if ran minus the times its then
// arm ran), of every ?: and of every &&, || and ?? (the right operand evaluated, or not), and every
// case of a switch. A branch is covered when its arm ran at least once. Lines are TypeScript lines,
// through the inline source map. Node-only.

import { Session } from 'node:inspector/promises';
import { SourceMap } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { countedOut, type Reason, UNREACHABLE } from './unreachable.ts';

/** An uncovered branch: its TypeScript line, what it is, and the function it is in. */
export interface UncoveredBranch {
  line: number;
  kind: string;
  fn: string;
  /** Why the campaign does not reach it (src/unreachable.ts), when it is listed there: a reason
   * that counts it out (no scenario can reach it) or one that names why it is missed. */
  unreachable?: Reason;
}

export interface FileCoverage {
  /** Path relative to the repository root. */
  file: string;
  branches: number;
  covered: number;
  /** Uncovered branches in line order. */
  uncovered: UncoveredBranch[];
}

interface V8Range {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface V8Function {
  functionName: string;
  ranges: V8Range[];
}

/** A coverage session: started before the campaign, taken after it. */
export class BranchCoverage {
  private readonly session = new Session();

  /** Starts block coverage; call before the code to measure runs. */
  async start(): Promise<void> {
    this.session.connect();
    await this.session.post('Profiler.enable');
    await this.session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  /** Coverage (cumulative since start()) of every loaded file whose path relative to `root`
   * `include` accepts. */
  async take(root: string, include: (file: string) => boolean): Promise<FileCoverage[]> {
    const { result } = await this.session.post('Profiler.takePreciseCoverage');
    await this.session.post('Debugger.enable');
    const out: FileCoverage[] = [];
    for (const script of result) {
      if (!script.url.startsWith('file://')) continue;
      const file = relative(root, fileURLToPath(script.url));
      if (!include(file)) continue;
      const { scriptSource } = await this.session.post('Debugger.getScriptSource', {
        scriptId: script.scriptId,
      });
      out.push(fileCoverage(file, scriptSource, script.functions));
    }
    await this.session.post('Debugger.disable');
    return out.sort((a, b) => a.file.localeCompare(b.file));
  }

  async stop(): Promise<void> {
    await this.session.post('Profiler.stopPreciseCoverage');
    await this.session.post('Profiler.disable');
    this.session.disconnect();
  }
}

/** Maps generated offsets to original (TypeScript) lines, 1-based. */
function lineMapper(source: string): (offset: number) => number {
  const starts = [0];
  for (let i = source.indexOf('\n'); i !== -1; i = source.indexOf('\n', i + 1)) starts.push(i + 1);
  const m = /\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/.exec(source);
  const map = m === null ? null : new SourceMap(JSON.parse(Buffer.from(m[1]!, 'base64').toString('utf8')));
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    if (map === null) return lo + 1;
    const e = map.findEntry(lo, offset - starts[lo]!) as { originalLine?: number };
    return e.originalLine === undefined ? lo + 1 : e.originalLine + 1;
  };
}

/** The execution count at a generated offset: the innermost V8 range holding it. */
function counter(functions: V8Function[]): (offset: number) => number {
  const ranges: V8Range[] = [];
  for (const f of functions) for (const r of f.ranges) ranges.push(r);
  return (offset) => {
    let best: V8Range | undefined;
    for (const r of ranges) {
      if (r.startOffset <= offset && offset < r.endOffset) {
        if (best === undefined || r.endOffset - r.startOffset < best.endOffset - best.startOffset) best = r;
      }
    }
    return best?.count ?? 0;
  };
}

function fileCoverage(file: string, source: string, functions: V8Function[]): FileCoverage {
  const lineOf = lineMapper(source);
  const countAt = counter(functions);
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  let branches = 0;
  let covered = 0;
  const uncovered: UncoveredBranch[] = [];
  const fnStack: string[] = [];
  const arm = (count: number, at: ts.Node, kind: string): void => {
    branches++;
    if (count > 0) covered++;
    else uncovered.push({ line: lineOf(at.getStart(sf)), kind, fn: fnStack[fnStack.length - 1] ?? '(top)' });
  };
  const at = (n: ts.Node): number => countAt(n.getStart(sf));
  const visit = (n: ts.Node): void => {
    const named =
      ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isFunctionExpression(n)
        ? (n.name?.getText(sf) ?? '(anonymous)')
        : ts.isArrowFunction(n)
          ? '(arrow)'
          : ts.isConstructorDeclaration(n)
            ? 'constructor'
            : null;
    if (named !== null) fnStack.push(named);
    if (ts.isIfStatement(n)) {
      const then = at(n.thenStatement);
      arm(then, n.thenStatement, 'if');
      if (n.elseStatement !== undefined) arm(at(n.elseStatement), n.elseStatement, 'else');
      else arm(at(n) - then, n, 'implicit else');
    } else if (ts.isConditionalExpression(n)) {
      arm(at(n.whenTrue), n.whenTrue, '?');
      arm(at(n.whenFalse), n.whenFalse, ':');
    } else if (
      ts.isBinaryExpression(n) &&
      (n.operatorToken.kind === ts.SyntaxKind.AmpersandAmpersandToken ||
        n.operatorToken.kind === ts.SyntaxKind.BarBarToken ||
        n.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken)
    ) {
      const right = at(n.right);
      const op = n.operatorToken.getText(sf);
      arm(right, n.right, `${op} right`);
      arm(at(n) - right, n, `${op} short-circuit`);
    } else if (ts.isCaseClause(n) || ts.isDefaultClause(n)) {
      // The clause's first statement (an empty fall-through clause shares the next one's).
      const first = n.statements[0];
      if (first !== undefined) arm(at(first), n, ts.isCaseClause(n) ? 'case' : 'default');
    }
    ts.forEachChild(n, visit);
    if (named !== null) fnStack.pop();
  };
  visit(sf);
  return { file, branches, covered, uncovered };
}

/**
 * Marks the uncovered branches src/unreachable.ts lists (by file name, function and a piece of the
 * source line; `source(file)` gives a file's TypeScript text) and returns how many per file.
 */
export function markUnreachable(
  files: FileCoverage[],
  source: (file: string) => string,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of files) {
    const name = f.file.split('/').pop()!;
    const entries = UNREACHABLE.filter((x) => x.file === name);
    if (entries.length === 0) continue;
    const lines = source(f.file).split('\n');
    let n = 0;
    for (const b of f.uncovered) {
      // The line and the next one, trimmed: an entry's text may end a line and begin the next.
      const text = `${lines[b.line - 1]?.trim() ?? ''}\n${lines[b.line]?.trim() ?? ''}`;
      const e = entries.find((x) => x.fn === b.fn && text.includes(x.text));
      if (e === undefined) continue;
      b.unreachable = e.reason;
      if (countedOut(e.reason)) n++;
    }
    out.set(f.file, n);
  }
  return out;
}

/**
 * The union of campaigns' coverage of the same code: a branch is uncovered when every campaign left
 * it uncovered (branches are told apart by line, kind and function, with their multiplicity).
 */
export function unionCoverage(campaigns: FileCoverage[][]): FileCoverage[] {
  const byFile = new Map<string, FileCoverage[]>();
  for (const files of campaigns)
    for (const f of files) byFile.set(f.file, [...(byFile.get(f.file) ?? []), f]);
  const out: FileCoverage[] = [];
  for (const [file, fs] of byFile) {
    const key = (u: UncoveredBranch): string => `${u.line}|${u.kind}|${u.fn}`;
    let left = fs[0]!.uncovered.map((u) => ({ line: u.line, kind: u.kind, fn: u.fn }));
    for (const f of fs.slice(1)) {
      const count = new Map<string, number>();
      for (const u of f.uncovered) count.set(key(u), (count.get(key(u)) ?? 0) + 1);
      left = left.filter((u) => {
        const n = count.get(key(u)) ?? 0;
        if (n === 0) return false;
        count.set(key(u), n - 1);
        return true;
      });
    }
    // A file a campaign never loaded has no entry there: its branches count as in the others.
    const branches = fs[0]!.branches;
    out.push({ file, branches, covered: branches - left.length, uncovered: left });
  }
  return out.sort((a, b) => a.file.localeCompare(b.file));
}

/** "12.3%" of covered/total. */
export function percent(covered: number, total: number): string {
  return total === 0 ? '-' : `${((100 * covered) / total).toFixed(1)}%`;
}
