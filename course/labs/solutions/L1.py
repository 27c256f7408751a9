import numpy as np


def find_threshold(samples):
    """Halfway between the low and the high level (two clusters of sample values)."""
    x = np.asarray(samples, dtype=float)
    low, high = np.percentile(x, [5, 95])
    for _ in range(10):
        mid = (low + high) / 2
        low, high = x[x <= mid].mean(), x[x > mid].mean()
    return (low + high) / 2

def smooth(x, n):
    if n <= 1:
        return x
    return np.convolve(x, np.ones(n) / n, mode="same")

def decode_bits(samples, code, samples_per_bit):
    """All bits, one clock step at a time, re-aligning on every transition (a DPLL)."""
    x = np.asarray(samples, dtype=float)
    thr = find_threshold(x)
    spb = samples_per_bit
    y = smooth(x, max(1, spb // 4)) > thr
    edges = np.flatnonzero(y[1:] != y[:-1]) + 0.5
    if edges.size == 0:
        return np.zeros(0, dtype=np.uint8)
    bits = []
    if code == "manchester":
        # every bit has a transition in its middle: step from one to the next
        t = edges[0]
        period = float(spb)
        while t + spb / 2 < x.size:
            i = int(round(t))
            before = x[max(0, i - spb // 2): i].mean() if i > 0 else x[0]
            after = x[i: i + spb // 2].mean()
            bits.append(1 if after > before else 0)
            # the next middle is about one bit later: lock on to the nearest edge there
            near = edges[(edges > t + 0.75 * period) & (edges < t + 1.25 * period)]
            t = near[np.argmin(abs(near - t - period))] if near.size else t + period
    else:
        # NRZ: transitions sit on bit boundaries; sample halfway, re-align at each edge
        t = edges[0]  # a boundary
        period = float(spb)
        while t + period < x.size:
            centre = int(round(t + period / 2))
            bits.append(1 if x[max(0, centre - spb // 4): centre + spb // 4 + 1].mean() > thr else 0)
            near = edges[(edges > t + 0.5 * period) & (edges < t + 1.5 * period)]
            t = near[0] if near.size else t + period
    return np.array(bits, dtype=np.uint8)

def find_start(bits, preamble):
    """Index of the first bit after the preamble: where most preamble bits agree."""
    b = 2.0 * np.asarray(bits) - 1
    p = 2.0 * np.asarray(preamble) - 1
    # the first preamble bits may have been missed (the receiver started late): let the
    # preamble hang over the start, where nothing agrees or disagrees
    padded = np.concatenate([np.zeros(p.size), b])
    agree = np.correlate(padded, p, mode="valid")
    return int(np.argmax(agree))

def decode(samples, code, samples_per_bit, preamble):
    """The bits after the preamble."""
    bits = decode_bits(samples, code, samples_per_bit)
    return bits[find_start(bits, preamble):]
