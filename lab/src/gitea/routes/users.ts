// GET /version (routers/api/v1/misc/version.go), GET /user (routers/api/v1/user/user.go GetAuthenticatedUser).
import { type App, json } from '../http';
import { reqToken } from '../middleware';
import { toUser } from '../render';

export function userRoutes(app: App): void {
  app.on('GET', '/version', (c) => json(c, 200, { version: c.st.version }));
  app.on('GET', '/user', (c) => {
    const doer = reqToken(c);
    json(c, 200, toUser(c, doer, doer));
  });
}
