/** A promise and the function that settles it, for something that ends later, elsewhere. */
export interface Signal<T = void> {
  readonly promise: Promise<T>;
  readonly resolve: (value: T) => void;
}

export function signal<T = void>(): Signal<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
