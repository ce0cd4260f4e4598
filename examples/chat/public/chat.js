// The chat page: one room at a time, a nickname, and the message list.
// `io` comes from the official socket.io-client, loaded by index.html.
(() => {
  'use strict';

  const ACK_TIMEOUT_MS = 10000;
  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $('status'),
    nickForm: $('nick-form'),
    nick: $('nick'),
    roomForm: $('room-form'),
    room: $('room'),
    join: $('join'),
    leave: $('leave'),
    currentRoom: $('current-room'),
    members: $('members'),
    membersLabel: $('members-label'),
    notice: $('notice'),
    messages: $('messages'),
    sendForm: $('send-form'),
    text: $('text'),
    send: $('send'),
  };

  const socket = io();
  let currentRoom = null;
  let nick = '';

  // Handy in the devtools console; the end-to-end test uses it as a synchronisation point.
  window.chat = { socket };

  // Emits with an ack; resolves to the ack, or to {error} when the server says no or is silent.
  async function request(event, data) {
    try {
      return (await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, data)) ?? {};
    } catch (err) {
      return { error: `no answer from the server (${event})` };
    }
  }

  function notify(text, isError = false) {
    ui.notice.textContent = text;
    ui.notice.classList.toggle('error', isError);
  }

  function setStatus(state, text) {
    ui.status.dataset.state = state;
    ui.status.textContent = text;
  }

  function showMembers(count) {
    ui.members.textContent = String(count);
    ui.membersLabel.textContent = count === 1 ? 'member' : 'members';
  }

  function showRoom() {
    const inRoom = currentRoom !== null;
    ui.currentRoom.textContent = inRoom ? `in #${currentRoom}` : 'not in a room';
    ui.leave.disabled = !inRoom;
    ui.text.disabled = !inRoom;
    ui.send.disabled = !inRoom;
    ui.text.placeholder = inRoom ? `Message #${currentRoom}` : 'Join a room to write';
    if (!inRoom) showMembers(0);
  }

  // kind: "own" (sent here), "other" (from the server) or "system" (joins, leaves).
  function addLine(kind, room, text, from) {
    const li = document.createElement('li');
    li.className = `message ${kind}`;
    li.dataset.room = room ?? '';
    if (from !== undefined) {
      li.dataset.from = from;
      const who = document.createElement('span');
      who.className = 'from';
      who.textContent = from;
      li.append(who);
    }
    const body = document.createElement('span');
    body.className = 'text';
    body.textContent = text;
    li.append(body);
    const atBottom =
      ui.messages.scrollTop + ui.messages.clientHeight >= ui.messages.scrollHeight - 4;
    ui.messages.append(li);
    if (atBottom || kind === 'own') li.scrollIntoView({ block: 'end' });
    return li;
  }

  async function joinRoom(room) {
    if (currentRoom === room) {
      notify(`You are already in #${room}.`);
      return;
    }
    if (currentRoom !== null && !(await leaveRoom())) return;
    const ack = await request('join', room);
    if (ack.error) {
      notify(ack.error, true);
      return;
    }
    currentRoom = ack.room;
    showRoom();
    showMembers(ack.members);
    notify('');
    addLine('system', ack.room, `You joined #${ack.room}.`);
  }

  async function leaveRoom() {
    const room = currentRoom;
    if (room === null) return true;
    const ack = await request('leave', room);
    if (ack.error) {
      notify(ack.error, true);
      return false;
    }
    currentRoom = null;
    showRoom();
    addLine('system', room, `You left #${room}.`);
    return true;
  }

  ui.nickForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const ack = await request('nick', ui.nick.value);
    if (ack.error) {
      notify(ack.error, true);
      return;
    }
    nick = ack.nick;
    ui.nick.value = nick;
    ui.nick.dataset.saved = nick;
    notify(`You are now ${nick}.`);
  });

  ui.roomForm.addEventListener('submit', (event) => {
    event.preventDefault();
    joinRoom(ui.room.value.trim());
  });

  ui.leave.addEventListener('click', () => {
    leaveRoom();
  });

  ui.sendForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = ui.text.value;
    if (currentRoom === null || text.trim() === '') return;
    const room = currentRoom;
    ui.text.value = '';
    const li = addLine('own', room, text, nick);
    li.dataset.state = 'pending';
    const ack = await request('message', { room, text });
    li.dataset.state = ack.error ? 'failed' : 'sent';
    if (ack.error) notify(ack.error, true);
  });

  let connectedOnce = false;
  socket.on('connect', async () => {
    if (socket.recovered) {
      // connection state recovery: same socket, nickname and rooms, and the server sent every
      // message this page missed while it was away (they are shown above, in order)
      setStatus('connected', 'reconnected, nothing lost');
      addLine('system', currentRoom, 'Reconnected: nothing was lost while you were away.');
      return;
    }
    setStatus('connected', 'connected');
    if (connectedOnce) {
      addLine('system', currentRoom, 'Reconnected as a new session: messages sent meanwhile were missed.');
    }
    connectedOnce = true;
    // A reconnect without recovery is a new session on the server: restore the nickname and room.
    if (nick) await request('nick', nick);
    if (currentRoom !== null) {
      const room = currentRoom;
      currentRoom = null;
      await joinRoom(room);
    }
  });

  socket.on('disconnect', () => setStatus('disconnected', 'disconnected'));
  socket.on('connect_error', () => setStatus('disconnected', 'cannot reach the server'));

  socket.on('welcome', (data) => {
    if (!nick) {
      nick = data.nick;
      if (!ui.nick.value) ui.nick.value = nick;
    }
  });

  // The server sends only what belongs to the rooms this page is in: show all of it.
  socket.on('message', (msg) => {
    addLine('other', msg.room, msg.text, msg.from);
  });

  socket.on('presence', (p) => {
    if (p.room === currentRoom) showMembers(p.members);
    addLine('system', p.room, `${p.nick} ${p.joined ? 'joined' : 'left'} #${p.room}.`);
  });

  showRoom();
})();
