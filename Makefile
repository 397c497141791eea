# Test tiers. `make test` is the default tier (includes two fixed chaos
# schedules, ~1.5 min); `make chaos-long` runs 20 chaos seeds of 60 s each,
# with stores that split a region past REGION_MAX_KEYS keys (0: never); `make fuzz`
# runs every fuzz target for FUZZTIME.
GO ?= go
FUZZTIME ?= 60s
SEEDS ?= 20
REGION_MAX_KEYS ?= 300

.PHONY: test chaos-long fuzz

test:
	$(GO) build ./... && $(GO) vet ./... && $(GO) test ./...

chaos-long:
	$(GO) test ./tests/chaos -run TestChaos -v -count=1 -timeout 90m -chaos.long -chaos.seeds=$(SEEDS) -chaos.region-max-keys=$(REGION_MAX_KEYS)

fuzz:
	$(GO) test ./kv/server -run '^$$' -fuzz '^FuzzRawRequest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./raft -run '^$$' -fuzz '^FuzzRaftStep$$' -fuzztime $(FUZZTIME)
	$(GO) test ./raft -run '^$$' -fuzz '^FuzzRaftSchedule$$' -fuzztime $(FUZZTIME)
	$(GO) test ./kv/engine -run '^$$' -fuzz '^FuzzDataKeyRoundTrip$$' -fuzztime $(FUZZTIME)
