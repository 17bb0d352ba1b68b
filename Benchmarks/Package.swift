// swift-tools-version: 6.1
import PackageDescription

// Micro-benchmarks of the core's per-request pieces (`make bench` runs them). A package of its own
// so that `make test` does not build the benchmark harness.
let package = Package(
    name: "weir-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "weir", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "CoreBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "WeirCore", package: "weir"),
            ],
            path: "Benchmarks/CoreBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
