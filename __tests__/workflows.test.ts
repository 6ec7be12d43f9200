import { describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { readActionYaml, ROOT } from '../test-bed/runner.ts';

/** Every workflow we ship or show parses, and uses only inputs and outputs that action.yml declares. */

interface Step {
  id?: string;
  uses?: string;
  with?: Record<string, unknown>;
}
interface Job {
  uses?: string;
  with?: Record<string, unknown>;
  steps?: Step[];
  permissions?: unknown;
}
interface Workflow {
  on: unknown;
  jobs: Record<string, Job>;
  permissions?: unknown;
}

const files = [
  ...readdirSync(join(ROOT, '.github', 'workflows')).map((name) => join('.github', 'workflows', name)),
  ...readdirSync(join(ROOT, 'examples')).map((name) => join('examples', name)),
].filter((path) => /\.ya?ml$/.test(path));

const action = readActionYaml();
const isThisAction = (uses: string | undefined) => uses === './' || /(^|\/)iap-token@/.test(uses ?? '');

describe.each(files)('%s', (path) => {
  const text = readFileSync(join(ROOT, path), 'utf8');
  const workflow = parse(text) as Workflow;
  const steps = Object.values(workflow.jobs).flatMap((job) => job.steps ?? []);
  const ours = steps.filter((step) => isThisAction(step.uses));

  test('parses as a workflow with least-privilege permissions', () => {
    expect(workflow.on).toBeTruthy();
    expect(Object.keys(workflow.jobs).length).toBeGreaterThan(0);
    expect(workflow.permissions).toEqual({ contents: 'read' });
  });

  test("uses real inputs of action.yml, with the audience or the app's URL it follows from", () => {
    for (const step of ours) {
      for (const name of Object.keys(step.with ?? {}))
        expect({ step: step.id, input: name, known: name in action.inputs }).toMatchObject({ known: true });
      const given = ['audience', 'app_url', 'proxy_to', 'proxy_hosts', 'smoke_test_urls'].filter((name) => step.with?.[name]);
      expect({ step: step.id, given }).toMatchObject({ given: expect.arrayContaining([expect.any(String)]) });
    }
  });

  test('reads only outputs that action.yml declares', () => {
    const ids = new Set(ours.map((step) => step.id).filter(Boolean));
    for (const match of text.matchAll(/steps\.([\w-]+)\.outputs\.([\w-]+)/g)) {
      const [, id = '', output = ''] = match;
      if (ids.has(id)) expect({ id, output, known: output in action.outputs }).toMatchObject({ known: true });
    }
  });

  test('a job that needs an OIDC token asks for id-token: write', () => {
    for (const job of Object.values(workflow.jobs)) {
      const federates = (job.steps ?? []).some(
        (step) => isThisAction(step.uses) && step.with?.['workload_identity_provider'] !== undefined,
      );
      const selfTest = path.endsWith('ci.yml'); // the fake Google's OIDC endpoint stands in for GitHub's
      if (federates && !selfTest) expect(job.permissions).toMatchObject({ 'id-token': 'write' });
    }
  });
});

test('every example and workflow was checked, and some use the action', () => {
  expect(files.length).toBeGreaterThanOrEqual(6);
  const uses = files.flatMap((path) => [...readFileSync(join(ROOT, path), 'utf8').matchAll(/uses: (\.\/|OWNER\/iap-token@v1)$/gm)]);
  expect(uses.length).toBeGreaterThanOrEqual(7);
});

test('the reusable workflow is called with its declared inputs', () => {
  const reusable = parse(readFileSync(join(ROOT, 'examples', 'reusable-iap-call.yml'), 'utf8')) as {
    on: { workflow_call: { inputs: Record<string, { required?: boolean }> } };
  };
  const caller = parse(readFileSync(join(ROOT, 'examples', 'call-reusable-iap-workflow.yml'), 'utf8')) as Workflow;
  const declared = reusable.on.workflow_call.inputs;
  const call = Object.values(caller.jobs).find((job) => job.uses?.endsWith('iap-call.yml'));
  for (const name of Object.keys(call?.with ?? {})) expect(Object.keys(declared)).toContain(name);
  for (const [name, spec] of Object.entries(declared)) if (spec.required) expect(Object.keys(call?.with ?? {})).toContain(name);
});

test('Dependabot watches npm and the actions', () => {
  const config = parse(readFileSync(join(ROOT, '.github', 'dependabot.yml'), 'utf8')) as {
    updates: Array<{ 'package-ecosystem': string }>;
  };
  expect(config.updates.map((update) => update['package-ecosystem']).sort()).toEqual(['github-actions', 'npm']);
});

test("every checkout in the workflows and examples keeps no credentials (the README's own advice)", () => {
  for (const path of files) {
    const text = readFileSync(join(ROOT, path), 'utf8');
    const checkouts = text.split('\n').filter((line) => /uses: actions\/checkout@/.test(line)).length;
    const withoutCredentials = (text.match(/persist-credentials: false/g) ?? []).length;
    expect({ path, checkouts, withoutCredentials }).toEqual({ path, checkouts, withoutCredentials: checkouts });
  }
});

test('every README yaml snippet parses, uses only inputs action.yml declares, and checks out without credentials', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const snippets = [...readme.matchAll(/^( *)```ya?ml\n([\s\S]*?)^\1```/gm)];
  expect(snippets.length).toBeGreaterThanOrEqual(8);
  let ours = 0;
  for (const [, indent = '', body = ''] of snippets) {
    const steps: Step[] = [];
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (value && typeof value === 'object') {
        if (typeof (value as Step).uses === 'string') steps.push(value);
        Object.values(value).forEach(walk);
      }
    };
    walk(
      parse(
        body
          .split('\n')
          .map((line) => line.slice(indent.length))
          .join('\n'),
      ),
    );
    for (const step of steps) {
      if (isThisAction(step.uses)) {
        ours++;
        for (const name of Object.keys(step.with ?? {})) expect({ name, known: name in action.inputs }).toMatchObject({ known: true });
      }
      if (step.uses?.startsWith('actions/checkout@')) expect(step.with?.['persist-credentials']).toBe(false);
    }
  }
  expect(ours).toBeGreaterThanOrEqual(8);
});
