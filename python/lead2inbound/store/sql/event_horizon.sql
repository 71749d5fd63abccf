-- The log's horizon (l2i_event_horizon, 0012_events.sql): where a stream that starts now begins.
SELECT l2i_event_horizon()
