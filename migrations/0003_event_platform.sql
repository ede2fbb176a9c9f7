-- The client's platform (`os/arch`) where its User-Agent names one (src/user_agent.rs);
-- NULL for older rows and for clients that do not say.
ALTER TABLE events ADD COLUMN platform TEXT;
