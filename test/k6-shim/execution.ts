// k6/execution: the emulator sets the iteration index before it calls an exec function.
export const current = { iterationInTest: 0 };

export default {
  scenario: {
    get iterationInTest() {
      return current.iterationInTest;
    },
  },
};
