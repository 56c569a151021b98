// Micro-benchmarks of the hot paths: one Zipf draw, one histogram record, and one whole
// null-connector operation through the engine (plan, collision accounting, clock, record).
// Targets (README): Zipf <= 20 ns, record <= 5 ns, null operation >= 5 M/s per worker thread.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "connectors/null_connector.hpp"
#include "engine/run.hpp"
#include "metrics/latency_histogram.hpp"
#include "sampling/zipf.hpp"
#include "scenarios/transfer_scenario.hpp"

using namespace loadbench;

static void BM_ZipfSample(benchmark::State& state) {
    const auto keys = static_cast<std::uint64_t>(state.range(0));
    const double alpha = static_cast<double>(state.range(1)) / 100.0;
    ZipfSampler sampler(keys, alpha);
    Rng rng(1);
    for (auto _ : state) benchmark::DoNotOptimize(sampler(rng));
    state.SetLabel("keys=" + std::to_string(keys) + " alpha=" + std::to_string(alpha).substr(0, 4));
}
BENCHMARK(BM_ZipfSample)
    ->ArgsProduct({{100'000, 1'000'000'000}, {0, 50, 100, 150, 300}});

static void BM_HistogramRecord(benchmark::State& state) {
    // Realistic latencies: log-uniform between 1 us and 100 ms, precomputed so only record() is timed.
    std::mt19937_64 gen(1);
    std::uniform_real_distribution<double> exponent(std::log(1e3), std::log(1e8));
    std::vector<std::uint64_t> values(1 << 16);
    for (auto& v : values) v = static_cast<std::uint64_t>(std::exp(exponent(gen)));
    LatencyHistogram h;
    std::size_t i = 0;
    for (auto _ : state) {
        h.record(values[i++ & (values.size() - 1)]);
    }
    benchmark::DoNotOptimize(h.count());
}
BENCHMARK(BM_HistogramRecord);

// Whole null-connector runs of test-1 (alpha 0.5, 100k accounts), one worker thread per
// argument: operations per second per worker thread, with full latency recording.
static void BM_NullOperation(benchmark::State& state) {
    const auto threads = static_cast<std::size_t>(state.range(0));
    double total_ops = 0, total_s = 0;
    for (auto _ : state) {
        auto connector = std::make_shared<NullConnector>(ConnectorOptions{});
        auto workload = std::make_shared<TransferWorkload>(TransferParams{}, connector);
        loadbench::Run run({.concurrency = threads, .warmup_seconds = 0.1, .seconds = 1.0}, workload);
        RunResult r = run.run();
        total_ops += static_cast<double>(r.counters.committed);
        total_s += r.measured_seconds;
        state.SetIterationTime(r.measured_seconds);
    }
    state.counters["ops_per_s_per_thread"] = total_ops / total_s / static_cast<double>(threads);
    state.counters["ns_per_op"] = total_s * 1e9 * static_cast<double>(threads) / total_ops;
}
BENCHMARK(BM_NullOperation)->Arg(1)->Arg(2)->Iterations(3)->UseManualTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
