/** A promise and the function that settles it, for something that ends later, elsewhere. */
export interface Signal {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
}

export function signal(): Signal {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
