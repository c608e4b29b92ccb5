// Plans what the eval gate compares each composition with: the previous eval's row where that eval scored the same
// held-out records the same way, else the previous version scored again on the current data. Pure (no IO).

/** The settings of an eval that decide which records are scored and how (perplexity moves with any of them). */
export interface ScoringSettings {
  maxExamples: number;
  quant: string;
  compute: string;
}

export function scoringSettings(c: { maxExamples?: number; quant?: string; compute?: string } | undefined): ScoringSettings {
  return { maxExamples: c?.maxExamples ?? 200, quant: c?.quant ?? 'none', compute: c?.compute ?? 'fp32' };
}

/** What the previous eval of this stage recorded: its config, its upstream keys and its rows. */
export interface PreviousEval {
  config: unknown;
  upstream: Record<string, string>; // stage name -> key
  rows: { subject: string; kind: string; dataset: string; perplexity?: number }[];
}

export type BaselinePlan =
  /** Nothing to compare with: no previous eval, or it did not score this composition. */
  | { composition: string; dataset: string; use: 'none' }
  /** The composition did not change since the previous eval: nothing to gate. */
  | { composition: string; dataset: string; use: 'same-version' }
  /** The previous eval scored the previous version on the same records the same way: its row is the baseline. */
  | { composition: string; dataset: string; use: 'previous-eval'; key: string; perplexity: number }
  /** The held-out data (or how it is scored) changed: score the previous version `key` again on the current data. */
  | { composition: string; dataset: string; use: 'rescore'; key: string; why: string };

export function planBaselines(
  compositions: string[],
  datasets: string[],
  current: { keys: Record<string, string>; settings: ScoringSettings },
  previous: PreviousEval | undefined,
): BaselinePlan[] {
  const out: BaselinePlan[] = [];
  const prevSettings = scoringSettings(previous?.config as Partial<ScoringSettings> | undefined);
  const changedSettings = (Object.keys(current.settings) as (keyof ScoringSettings)[]).filter((k) => prevSettings[k] !== current.settings[k]);
  for (const composition of compositions) {
    const stage = `compositions.${composition}`;
    const prevKey = previous?.upstream[stage];
    for (const dataset of datasets) {
      if (!previous || !prevKey) {
        out.push({ composition, dataset, use: 'none' });
        continue;
      }
      if (prevKey === current.keys[stage]) {
        out.push({ composition, dataset, use: 'same-version' });
        continue;
      }
      const dataStage = `datasets.${dataset}`;
      const row = previous.rows.find((r) => r.kind === 'composition' && r.subject === composition && r.dataset === dataset);
      const prevData = previous.upstream[dataStage];
      let why: string | undefined;
      if (prevData === undefined || row?.perplexity === undefined) why = `the previous eval did not score ${dataStage}`;
      else if (prevData !== current.keys[dataStage]) why = `${dataStage} changed since the previous eval`;
      else if (changedSettings.length)
        why = `the previous eval scored with other settings (${changedSettings.map((k) => `${k} ${prevSettings[k]} → ${current.settings[k]}`).join(', ')})`;
      if (why) out.push({ composition, dataset, use: 'rescore', key: prevKey, why });
      else out.push({ composition, dataset, use: 'previous-eval', key: prevKey, perplexity: row!.perplexity! });
    }
  }
  return out;
}
