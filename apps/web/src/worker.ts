// The simulator's thread: the page posts requests, this worker runs the scenario and answers
// with plain data, so a long run never blocks the page.

/// <reference lib="webworker" />
import { parseScenario, ScenarioError } from '@mmsim/scenario';
import type { Request, Response } from './protocol.ts';
import { breakKsm, runTo, type Stopped, snapshot, walkOf } from './sim.ts';

let current: Stopped | null = null;

function answer(req: Request): Response {
  switch (req.type) {
    case 'load': {
      let loaded: ReturnType<typeof parseScenario>;
      try {
        loaded = parseScenario(req.text, req.file);
      } catch (e) {
        if (e instanceof ScenarioError)
          return { id: req.id, type: 'invalid', message: e.message, path: e.path };
        throw e;
      }
      const steps = loaded.scenario.steps;
      let stopAfter = req.stopAfter ?? steps.length - 1;
      if (req.at !== null) {
        const at = req.at;
        stopAfter = steps.findIndex((s) => s.op === 'report' && s.label === at);
        if (stopAfter < 0)
          return {
            id: req.id,
            type: 'invalid',
            message: `${req.file}: no report step labelled "${at}"`,
            path: '$',
          };
      }
      try {
        current = runTo(loaded, stopAfter);
      } catch (e) {
        if (e instanceof ScenarioError)
          return { id: req.id, type: 'invalid', message: e.message, path: e.path };
        throw e;
      }
      return { id: req.id, type: 'snapshot', snapshot: snapshot(current) };
    }
    case 'walk':
      if (current === null) throw new Error('no scenario loaded');
      return { id: req.id, type: 'walk', walk: walkOf(current, req.proc, req.address) };
    case 'breakKsm':
      if (current === null) throw new Error('no scenario loaded');
      return { id: req.id, type: 'breakKsm', view: breakKsm(current.loaded, current.step, req.strategy) };
  }
}

self.onmessage = (ev: MessageEvent<Request>) => {
  let res: Response;
  try {
    res = answer(ev.data);
  } catch (e) {
    res = { id: ev.data.id, type: 'error', message: e instanceof Error ? e.message : String(e) };
  }
  self.postMessage(res);
};
