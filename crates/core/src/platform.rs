//! The platforms Pressroom publishes to, one enum for connectors, stored rows and the API.

text_enum! {
    /// A publishing platform; its name is the connector's id, stored in accounts and posts.
    pub enum Platform {
        Facebook = "facebook",
        Instagram = "instagram",
        LinkedIn = "linkedin",
        TikTok = "tiktok",
        Snapchat = "snapchat",
        /// A generic HTTP receiver (a CMS, Zapier, an internal service).
        Webhook = "webhook",
        /// The local outbox for demos and tests.
        Sandbox = "sandbox",
    }
}
