-- 0005: the dial queue no longer has a foreign key to leads.
--
-- The writer inserts a lead and its queue row in one statement, and the app never deletes leads,
-- so the key guarded nothing the code can break. It cost a lookup per queued lead, and that
-- lookup's cached plan could go generic on a fresh table and pick an index by org only
-- (leads_org_phone), scanning all the org's leads per queued lead: a 500-lead write went from
-- 0.05 s to over 1 s once 20,000 leads were stored.
ALTER TABLE dial_queue DROP CONSTRAINT IF EXISTS dial_queue_org_id_lead_id_fkey;
