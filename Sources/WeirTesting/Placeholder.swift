enum _PlaceholderWeirTesting {}
