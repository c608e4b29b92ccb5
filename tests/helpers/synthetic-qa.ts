// A seeded extractive QA set in TinyStories words ("Lily went to the park. Tom went to the shop." → "Where did Tom
// go?" → "the shop"): answers must be read from the context, so held-out pairs test what a task adapter learned.
const NAMES = ['Lily', 'Tom', 'Ben', 'Sue', 'Max', 'Anna', 'Sam', 'Mia', 'Tim', 'Lucy'];
const PLACES = ['park', 'shop', 'beach', 'farm', 'school', 'zoo', 'forest', 'lake', 'garden', 'river'];

export interface SyntheticQa {
  context: string;
  question: string;
  answer: string;
}

export function syntheticQa(count: number, seed: number): SyntheticQa[] {
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const out: SyntheticQa[] = [];
  while (out.length < count) {
    const a = pick(NAMES);
    const b = pick(NAMES.filter((n) => n !== a));
    const pa = pick(PLACES);
    const pb = pick(PLACES.filter((p) => p !== pa));
    const askA = rand() < 0.5;
    out.push({
      context: `${a} went to the ${pa}. ${b} went to the ${pb}.`,
      question: `Where did ${askA ? a : b} go?`,
      answer: `the ${askA ? pa : pb}`,
    });
  }
  return out;
}
