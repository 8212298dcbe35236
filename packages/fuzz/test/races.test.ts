// Races by scripted interleaving: each test is one named interleaving (operation | point | what
// runs there), checked against the model like every fuzzed command.
import { describe, it } from 'vitest';
import { RACES } from '../src/races.ts';

describe('scripted races', () => {
  for (const race of RACES) it(race.name, () => race.run());
});
