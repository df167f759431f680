// Runs once, when the data volume is empty (official mongo image, /docker-entrypoint-initdb.d),
// as the root user. Creates the app's own user with readWrite on the app's database only.
const database = process.env.MONGO_APP_DATABASE;
db.getSiblingDB(database).createUser({
  user: process.env.MONGO_APP_USERNAME,
  pwd: process.env.MONGO_APP_PASSWORD,
  roles: [{ role: "readWrite", db: database }],
});
